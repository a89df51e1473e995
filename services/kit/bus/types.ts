import type { Event } from '../events.js';

/**
 * The event bus: NATS JetStream in production, an in-process bus with the same
 * semantics in embedded mode.
 *
 * - publish() resolves only once the bus has accepted the events durably.
 * - consume() is a named durable consumer: it sees every matching event once it
 *   is created, in order, in batches; a batch counts as handled only when the
 *   handler resolves (a rejected batch is retried), so handlers must be
 *   idempotent. Several processes consuming with the same name share the work.
 * - subscribe() is a broadcast: every subscriber in every process sees each new
 *   event (used to keep in-memory state in step across replicas).
 */
export interface EventBus {
  readonly kind: 'jetstream' | 'memory';
  /**
   * Publishes events in order (JetStream: as few messages as they fit in);
   * resolves when all were accepted: stored by JetStream, or on the in-process
   * bus written by every consumer that keeps them (`keepsEvents`). Rejects
   * with PublishRefused when the bus refuses events for what they are, else
   * with an error worth retrying. `urgent`: an answer waits for them.
   */
  publish(events: readonly Event[], options?: { urgent?: boolean }): Promise<void>;
  consume(options: ConsumeOptions, handler: BatchHandler): Promise<DurableConsumer>;
  subscribe(filter: string, handler: (event: Event) => void): Promise<Consumer>;
  /** True while the bus can accept events. */
  connected(): boolean;
  close(): Promise<void>;
}

/**
 * The bus refused events for what they are (too large for it), which no retry
 * can cure. `at`: the position in the publish of the first event refused, when
 * the bus knows it.
 */
export class PublishRefused extends Error {
  constructor(
    message: string,
    readonly at?: number,
  ) {
    super(message);
    this.name = 'PublishRefused';
  }
}

export interface ConsumeOptions {
  /** Durable consumer name, e.g. "audit". */
  name: string;
  /**
   * Event types to receive, as one NATS subject pattern: "request.completed",
   * "request.*", "admin.>", or ">" for all. One pattern, because NATS servers
   * before 2.10 take one filter per consumer.
   */
  filter: string;
  /** Largest batch handed to the handler at once. */
  maxBatch: number;
  /**
   * Where a durable consumer this call creates begins: at the oldest event the
   * stream holds (default), or with the events published from now on. One that
   * exists already resumes where it stopped either way.
   */
  startAt?: 'oldest' | 'now';
  /**
   * The consumer is where events are kept (audit's log, metering's ledger): the
   * in-process bus counts an event accepted once every such consumer that takes
   * it has handled it. Not set for deliveries elsewhere (a SIEM sink).
   */
  keepsEvents?: boolean;
}

export type BatchHandler = (events: Event[]) => Promise<void>;

export interface Consumer {
  /** Stops taking new events and waits for the batch in hand to finish. */
  stop(): Promise<void>;
}

export interface DurableConsumer extends Consumer {
  /**
   * Messages the bus holds for this consumer and it has not yet handled: not
   * yet delivered, or delivered and not acknowledged. A JetStream message holds
   * one event or a publisher's batch of them; the in-process bus counts events.
   */
  pending(): Promise<number>;
}

/** NATS subject matching: `*` matches one token, `>` matches one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Backoff for retrying a failed batch: 100 ms doubling to 10 s, with jitter. */
export function retryDelayMs(attempt: number): number {
  const base = Math.min(10_000, 100 * 2 ** Math.min(attempt, 10));
  return base / 2 + Math.random() * (base / 2);
}
