import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Event } from '../events.js';
import type { Logger } from '../log.js';
import { readOnScrape } from '../metrics.js';
import { TurnBatch } from '../turn-batch.js';
import type { DeadLetterFile } from './dead-letter-file.js';
import { boundedEvent, reducedEvent } from './event-bounds.js';
import { tracePublish } from './event-traces.js';
import { mayPublish } from './nats-permissions.js';
import { isolatingRefused, refusedByBus } from './refusals.js';
import type { Spool } from './spool.js';
import { retryDelayMs, type EventBus } from './types.js';

/** What to do when the spool is full: refuse new requests (nothing goes unrecorded), or serve and count the loss. */
export type WhenFull = 'refuse' | 'drop';

/**
 * What an answer's record had when the answer ended (events.guarantee):
 * durable — its event was accepted first: stored by JetStream or fsync'd to the
 * spool, or on the embedded bus written by audit and metering;
 * best-effort — it was published after, so a process that died meanwhile lost it.
 */
export type RecordGuarantee = 'durable' | 'best-effort';

/** Someone waiting for an event to be durable. */
interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

interface Queued {
  event: Event;
  waiter?: Waiter;
}

export interface PublisherOptions {
  /** Where events wait while the bus cannot take them; without one, events are retried in memory only. */
  spool?: Spool;
  whenFull?: WhenFull;
  /** See nats.publishLingerMs: how long events wait for company before they go as one message. */
  lingerMs?: number;
  /** Where events the bus refuses for good, even reduced, are kept; without it they are counted lost. */
  deadLetters?: DeadLetterFile;
  /** events.guarantee: whether answers wait for their events to be durable. */
  guarantee?: RecordGuarantee;
}

/** Tries on the bus before an event goes to the spool instead. */
const DIRECT_ATTEMPTS = 3;

/**
 * How long an answer waits for the embedded bus's consumers to write its event
 * before it is withheld (their database failing): the in-process bus has no
 * spool to fall back on.
 */
const IN_PROCESS_RECORD_WAIT_MS = 30_000;

/**
 * Events emitted this many at a time go to the bus at once, without waiting
 * for the end of the turn or the linger: under a flood of connections libuv
 * keeps polling sockets for up to 48 rounds before it runs timers and
 * immediates again, and events held for those would pile up in memory.
 */
const HANDOVER_EVENTS = 1_000;

/**
 * Publishes events off the request path. emit() returns at once; an event
 * counts as published only when the bus accepted it. While the bus cannot take
 * events (or the spool still holds older ones, to keep their order), events go
 * to the local durable spool, which is replayed in order, with the same event
 * ids, once the bus is back. Every event is bounded first (event-bounds.ts);
 * one the bus still refuses for good is published reduced, or set aside, and
 * never holds up the events behind it.
 */
export class EventPublisher {
  /** Publishes in flight, and how many events they carry. */
  private readonly pending = new Set<Promise<void>>();
  private inFlight = 0;
  /** Events emitted in this turn of the event loop (or within the linger), published together. */
  private readonly queued: TurnBatch<Queued>;
  private readonly published: Counter<'type'>;
  private readonly spooled: Counter;
  private readonly dropped: Counter<'reason'>;
  private readonly refused: Counter<'outcome'>;
  private readonly deadLetters: DeadLetterFile | undefined;
  private closing = false;
  private replaying: Promise<void> | undefined;
  private readonly replayTimer: NodeJS.Timeout | undefined;
  private readonly spool: Spool | undefined;
  private readonly whenFull: WhenFull;
  readonly guarantee: RecordGuarantee;

  constructor(
    private readonly bus: EventBus,
    private readonly log: Logger,
    metrics: Registry,
    { spool, whenFull = 'refuse', lingerMs = 0, deadLetters, guarantee = 'durable' }: PublisherOptions = {},
  ) {
    this.guarantee = guarantee;
    this.spool = spool;
    this.whenFull = whenFull;
    this.deadLetters = deadLetters;
    this.queued = new TurnBatch((items) => this.publishQueued(items), { lingerMs, limit: { weigh: () => 1, max: HANDOVER_EVENTS } });
    this.published = new Counter({
      name: 'gateway_events_published_total',
      help: 'Events the bus accepted, by type.',
      labelNames: ['type'],
      registers: [metrics],
    });
    this.spooled = new Counter({
      name: 'gateway_events_spooled_total',
      help: 'Events written to the local spool because the bus could not take them.',
      registers: [metrics],
    });
    this.dropped = new Counter({
      name: 'gateway_events_dropped_total',
      help: 'Events lost: spool full (with whenFull: drop), no spool and the bus refused them at shutdown, or refused for good with no dead-letter file to keep them.',
      labelNames: ['reason'],
      registers: [metrics],
    });
    this.refused = new Counter({
      name: 'gateway_events_refused_total',
      help: 'Events the bus refused for good, by outcome: published reduced (long fields cut short), or set aside in the dead-letter file.',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    // Series from the start, so that the first event lost or refused is an increase an alert sees.
    for (const reason of ['spool_full', 'shutdown', 'refused']) this.dropped.inc({ reason }, 0);
    for (const outcome of ['reduced', 'set_aside']) this.refused.inc({ outcome }, 0);
    readOnScrape(metrics, 'gateway_events_pending', 'Events emitted and not yet accepted by the bus or the spool.', () => this.queued.size + this.inFlight);
    readOnScrape(metrics, 'gateway_events_spool_bytes', 'Bytes of events waiting in the local spool.', () => this.spool?.bytes ?? 0);
    if (spool) {
      this.replayTimer = setInterval(() => void this.replay(), 500);
      this.replayTimer.unref();
    }
  }

  /** False when new requests must be refused: the spool is full and nothing may go unrecorded. */
  accepting(): boolean {
    return !(this.whenFull === 'refuse' && this.spool?.full);
  }

  /**
   * Events emitted in one turn of the event loop (or within the linger) are
   * published together, as few messages: each costs a socket write, and a
   * delivery and an ack per consumer.
   */
  emit(event: Event): void {
    this.enqueue(event, undefined);
  }

  /**
   * Emits an event that an answer waits for: resolves once it is durable
   * (accepted by the bus, or fsync'd to the spool), rejects when it was lost
   * (the spool full or failing). It goes at the end of this turn, not after
   * the linger. With the in-process bus, once audit and metering wrote it.
   */
  record(event: Event): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue(event, { resolve, reject }));
  }

  private enqueue(event: Event, waiter: Waiter | undefined): void {
    // What NATS would refuse this service's user (nats-permissions.ts), refused in every mode, so tests find it.
    if (!mayPublish(event.service, event.type))
      throw new Error(`${event.service} emitted ${event.type}, which it may not publish (BUS_USE in nats-permissions.ts)`);
    const bounded = boundedEvent(event);
    tracePublish(bounded);
    if (this.spool && (this.spool.backlog || !this.bus.connected())) {
      this.toSpool(bounded, waiter);
      return;
    }
    this.queued.add({ event: bounded, waiter }, waiter !== undefined);
  }

  private publishQueued(items: Queued[]): void {
    this.inFlight += items.length;
    const task = this.publish(items).finally(() => {
      this.inFlight -= items.length;
      this.pending.delete(task);
    });
    this.pending.add(task);
  }

  private async publish(items: Queued[]): Promise<void> {
    const events = items.map((item) => item.event);
    const urgent = items.some((item) => item.waiter !== undefined);
    const bound = urgent && this.bus.kind === 'memory' ? this.boundWait(items) : undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deliver(events, urgent);
        clearTimeout(bound);
        for (const item of items) item.waiter?.resolve();
        return;
      } catch (err) {
        const about = { reason: (err as Error).message, events: events.length, firstEventId: events[0]!.id };
        if (this.spool && attempt + 1 >= DIRECT_ATTEMPTS) {
          this.log.warn(about, 'the bus did not take events; spooling them');
          // Each waiter hears of its own event: spooled (once on disk), or lost to a full spool.
          for (const item of items) this.toSpool(item.event, item.waiter);
          return;
        }
        if (!this.spool && this.closing && attempt >= 5) {
          this.dropped.inc({ reason: 'shutdown' }, events.length);
          this.log.error({ ...about, eventIds: events.map((event) => event.id) }, 'events dropped at shutdown: bus did not accept them');
          for (const item of items) item.waiter?.reject(new Error("the event bus did not accept the request's event before shutdown"));
          return;
        }
        if (attempt === 0) this.log.warn(about, 'event publish failed; retrying');
        await sleep(retryDelayMs(attempt));
      }
    }
  }

  /** Publishes events, publishing those around one the bus refuses for good (see isolatingRefused). */
  private deliver(events: Event[], urgent = false): Promise<void> {
    return isolatingRefused(
      (part: Event[]) => this.publishAccepted(part, urgent),
      refusedByBus,
      (event, refusal) => this.publishReduced(event, refusal),
    )(events);
  }

  /** Withholds the answers waiting on these events if the in-process consumers have not written them in time; they go on trying. */
  private boundWait(items: Queued[]): NodeJS.Timeout {
    return setTimeout(() => {
      for (const item of items) item.waiter?.reject(new Error(`audit and metering did not write the request's event within ${IN_PROCESS_RECORD_WAIT_MS} ms`));
    }, IN_PROCESS_RECORD_WAIT_MS).unref();
  }

  private async publishAccepted(events: Event[], urgent = false): Promise<void> {
    await this.bus.publish(events, { urgent });
    for (const event of events) this.published.inc({ type: event.type });
  }

  /** An event the bus refused for good, tried once more reduced so that its audit row still says what happened. */
  private async publishReduced(event: Event, refusal: Error): Promise<void> {
    try {
      await this.publishAccepted([reducedEvent(event)]);
    } catch (err) {
      if (!refusedByBus(err)) throw err;
      return this.setAside(event, refusal);
    }
    this.refused.inc({ outcome: 'reduced' });
    this.log.warn(
      { eventId: event.id, type: event.type, requestId: event.requestId, reason: refusal.message },
      'the bus refused an event; published it with its long fields cut short',
    );
  }

  /** Keeps whole an event the bus refused even reduced: logged without its content, which may be what made it too large. */
  private async setAside(event: Event, refusal: Error): Promise<void> {
    const about = { eventId: event.id, type: event.type, requestId: event.requestId, reason: refusal.message, file: this.deadLetters?.path };
    if (await this.deadLetters?.add(event, refusal.message)) {
      this.refused.inc({ outcome: 'set_aside' });
      this.log.error(about, 'the bus refused an event, even with its long fields cut short; set aside in the dead-letter file');
      return;
    }
    this.dropped.inc({ reason: 'refused' });
    this.log.error(about, 'the bus refused an event, even with its long fields cut short, and no dead-letter file could keep it: event lost');
  }

  private toSpool(event: Event, waiter: Waiter | undefined): void {
    if (this.spool!.append(event)) {
      this.spooled.inc();
      if (waiter) this.spool!.synced().then(waiter.resolve, waiter.reject);
      return;
    }
    this.dropped.inc({ reason: 'spool_full' });
    this.log.error({ eventId: event.id, type: event.type, whenFull: this.whenFull }, 'event spool is full: event lost');
    waiter?.reject(new Error('the event spool is full'));
  }

  /** Publishes what the spool holds, in order, while the bus takes it. */
  private replay(): Promise<void> {
    if (!this.spool?.backlog || !this.bus.connected() || this.replaying) return this.replaying ?? Promise.resolve();
    this.replaying = this.spool
      // Bounded again: a spool written by an older version may hold events over any bound.
      .drain((event) => this.deliver([boundedEvent(event)]))
      .then((count) => {
        if (count > 0) this.log.info({ count }, 'sent events from the spool');
      })
      .catch((err: unknown) => this.log.warn({ reason: (err as Error).message }, 'spool replay stopped; will retry'))
      .finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  /** Before a process serves: sends what an earlier run left in the spool (up to timeoutMs), so its answers are on record first. */
  async replayEarlier(timeoutMs: number): Promise<void> {
    if (this.spool?.backlog) await Promise.race([this.replay(), deadline(timeoutMs)]);
  }

  /** At shutdown: waits for publishes in flight (up to timeoutMs), tries one last replay, and makes the spool durable. */
  async flush(timeoutMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.replayTimer);
    this.queued.flush();
    await Promise.race([Promise.all(this.pending), deadline(timeoutMs)]);
    if (this.spool) {
      await Promise.race([this.replay(), deadline(timeoutMs)]);
      await this.spool.close();
    } else if (this.pending.size > 0) {
      this.log.error({ pending: this.inFlight }, 'shutdown with events not yet published');
    }
  }
}

/** A wait's upper bound that, once the wait is over, does not keep the process alive for the rest of it. */
const deadline = (ms: number) => sleep(ms, undefined, { ref: false });
