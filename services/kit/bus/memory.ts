import { setTimeout as sleep } from 'node:timers/promises';
import type { Event } from '../events.js';
import type { Logger } from '../log.js';
import { tracedHandler } from './event-traces.js';
import { Pause } from './pause.js';
import { retryDelayMs, subjectMatches, type BatchHandler, type ConsumeOptions, type Consumer, type DurableConsumer, type EventBus } from './types.js';

/**
 * The embedded-mode bus: same contract as JetStream within one process. An
 * event id published again within the duplicate window is dropped. Each
 * durable consumer has its own queue; a batch leaves the queue only after its
 * handler resolved, so a failing handler is retried with the same events in
 * the same order. Events live in memory until handled, so a publish resolves
 * only once the consumers that keep events (audit, metering) have written
 * them: what it accepted, a crash of the process does not lose.
 */
export class MemoryBus implements EventBus {
  readonly kind = 'memory';
  private readonly consumers = new Map<string, MemoryConsumer>();
  private readonly subscribers = new Set<{ filter: string; handler: (event: Event) => void }>();
  /** Event ids seen within the duplicate window, as JetStream keeps them (insertion order = time order). */
  private readonly recentIds = new Map<string, number>();
  private closed = false;

  private readonly duplicateWindowMs: number;
  private readonly batchLingerMs: number;

  constructor(
    private readonly log: Logger,
    { duplicateWindowMs = 120_000, batchLingerMs = 0 }: { duplicateWindowMs?: number; batchLingerMs?: number } = {},
  ) {
    this.duplicateWindowMs = duplicateWindowMs;
    this.batchLingerMs = batchLingerMs;
  }

  async publish(events: readonly Event[], { urgent = false }: { urgent?: boolean } = {}): Promise<void> {
    if (this.closed) throw new Error('event bus is closed');
    const keptBy = new Map<MemoryConsumer, number>();
    for (const event of events) {
      if (this.isDuplicate(event.id)) continue;
      for (const consumer of this.consumers.values()) {
        const seq = consumer.offer(event, urgent);
        if (seq !== undefined && consumer.keepsEvents) keptBy.set(consumer, seq);
      }
      for (const sub of this.subscribers) {
        if (subjectMatches(sub.filter, event.type)) sub.handler(event);
      }
    }
    await Promise.all([...keptBy].map(([consumer, seq]) => consumer.handled(seq)));
  }

  private isDuplicate(id: string): boolean {
    const now = Date.now();
    for (const [seen, at] of this.recentIds) {
      if (now - at < this.duplicateWindowMs) break;
      this.recentIds.delete(seen);
    }
    if (this.recentIds.has(id)) return true;
    this.recentIds.set(id, now);
    return false;
  }

  async consume(options: ConsumeOptions, handler: BatchHandler): Promise<DurableConsumer> {
    if (this.consumers.has(options.name)) throw new Error(`consumer ${options.name} already exists in this process`);
    const consumer = new MemoryConsumer(options, tracedHandler(options.name, handler), this.log.child({ consumer: options.name }), this.batchLingerMs);
    this.consumers.set(options.name, consumer);
    return {
      stop: async () => {
        await consumer.stop();
        this.consumers.delete(options.name);
      },
      pending: async () => consumer.pending,
    };
  }

  async subscribe(filter: string, handler: (event: Event) => void): Promise<Consumer> {
    const entry = { filter, handler };
    this.subscribers.add(entry);
    return { stop: async () => void this.subscribers.delete(entry) };
  }

  connected(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers.values()].map((c) => c.stop()));
  }
}

/**
 * A consumer lets the event loop turn before each batch while fewer than this
 * many batches wait: PGlite settles without a turn, so a backlog written batch
 * after batch would hold up every request and probe. Past it, writing comes
 * first, so the queue in memory stays bounded (docs/performance.md).
 */
const TURN_BELOW_BATCHES = 10;

class MemoryConsumer {
  private readonly queue: Event[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly pause = new Pause();
  /** Events offered so far, and handled so far: an event's sequence number is its place among those offered. */
  private offered = 0;
  private handledUpTo = 0;
  /** Publishes waiting for events to be handled, by the last one's sequence number, in order. */
  private readonly waiting: { seq: number; resolve(): void }[] = [];
  /** An answer waits for an event in the queue: the batch goes without its linger. */
  private urgent = false;

  constructor(
    private readonly options: ConsumeOptions,
    private readonly handler: BatchHandler,
    private readonly log: Logger,
    private readonly lingerMs: number,
  ) {
    this.running = this.loop();
  }

  /** Events queued, the batch in hand included: it leaves the queue once handled. */
  get pending(): number {
    return this.queue.length;
  }

  get keepsEvents(): boolean {
    return this.options.keepsEvents === true;
  }

  /** Queues the event if the consumer takes it; returns its sequence number. */
  offer(event: Event, urgent: boolean): number | undefined {
    if (!subjectMatches(this.options.filter, event.type)) return undefined;
    this.queue.push(event);
    if (urgent && !this.urgent) {
      this.urgent = true;
      this.pause.wake();
    } else {
      this.pause.reached(this.queue.length);
    }
    return ++this.offered;
  }

  /** Resolves once the events up to `seq` are handled. */
  handled(seq: number): Promise<void> {
    if (seq <= this.handledUpTo) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ seq, resolve }));
  }

  /** Drains what is queued (each batch retried until handled or stop times out), then ends. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.pause.wake();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { maxBatch } = this.options;
    let attempt = 0;
    for (;;) {
      if (this.queue.length === 0) {
        if (this.stopping) return;
        await this.pause.for(1);
        continue;
      }
      if (attempt === 0 && this.lingerMs > 0 && this.queue.length < maxBatch && !this.stopping && !this.urgent) {
        // A short batch waits a moment for company: one transaction for many events instead of one each.
        await this.pause.for(maxBatch, this.lingerMs);
      } else if (this.queue.length < TURN_BELOW_BATCHES * maxBatch && !this.stopping) {
        await this.pause.for(TURN_BELOW_BATCHES * maxBatch, 'turn');
      }
      this.urgent = false;
      const batch = this.queue.slice(0, maxBatch);
      try {
        await this.handler(batch);
        this.queue.splice(0, batch.length);
        this.handledUpTo += batch.length;
        while (this.waiting.length > 0 && this.waiting[0]!.seq <= this.handledUpTo) this.waiting.shift()!.resolve();
        attempt = 0;
      } catch (err) {
        if (this.stopping && attempt >= 3) {
          this.log.error({ err, pending: this.queue.length }, 'consumer stopped with events not handled');
          return;
        }
        this.log.warn({ err, attempt }, 'event batch failed; retrying');
        await sleep(retryDelayMs(attempt++));
      }
    }
  }
}
