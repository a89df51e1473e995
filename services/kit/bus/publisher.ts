import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Event } from '../events.js';
import type { Logger } from '../log.js';
import { readOnScrape } from '../metrics.js';
import type { Spool } from './spool.js';
import { retryDelayMs, type EventBus } from './types.js';

/** What to do when the spool is full: refuse new requests (nothing goes unrecorded), or serve and count the loss. */
export type WhenFull = 'refuse' | 'drop';

/** Tries on the bus before an event goes to the spool instead. */
const DIRECT_ATTEMPTS = 3;

/**
 * Publishes events off the request path. emit() returns at once; an event
 * counts as published only when the bus accepted it. While the bus cannot take
 * events (or the spool still holds older ones, to keep their order), events go
 * to the local durable spool, which is replayed in order, with the same event
 * ids, once the bus is back.
 */
export class EventPublisher {
  private readonly pending = new Set<Promise<void>>();
  private readonly published: Counter<'type'>;
  private readonly spooled: Counter;
  private readonly dropped: Counter<'reason'>;
  private closing = false;
  private replaying: Promise<void> | undefined;
  private readonly replayTimer: NodeJS.Timeout | undefined;
  private turn: Promise<void> | undefined;

  constructor(
    private readonly bus: EventBus,
    private readonly log: Logger,
    metrics: Registry,
    private readonly spool?: Spool,
    private readonly whenFull: WhenFull = 'refuse',
  ) {
    this.published = new Counter({ name: 'gateway_events_published_total', help: 'Events the bus accepted, by type.', labelNames: ['type'], registers: [metrics] });
    this.spooled = new Counter({ name: 'gateway_events_spooled_total', help: 'Events written to the local spool because the bus could not take them.', registers: [metrics] });
    this.dropped = new Counter({ name: 'gateway_events_dropped_total', help: 'Events lost: spool full (with whenFull: drop), or no spool and the bus refused them at shutdown.', labelNames: ['reason'], registers: [metrics] });
    readOnScrape(metrics, 'gateway_events_pending', 'Events emitted and not yet accepted by the bus or the spool.', () => this.pending.size);
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

  emit(event: Event): void {
    if (this.spool && (this.spool.backlog || !this.bus.connected())) {
      this.toSpool(event);
      return;
    }
    const task = this.nextTurn()
      .then(() => this.publish(event))
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /**
   * Events emitted in one turn of the event loop are published together, so
   * the NATS client writes them to its socket at once instead of one write per
   * event (measured with npm run bench: a write per event was 12% of the
   * embedded gateway's CPU).
   */
  private nextTurn(): Promise<void> {
    return (this.turn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.turn = undefined;
        resolve();
      }),
    ));
  }

  private async publish(event: Event): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bus.publish(event);
        this.published.inc({ type: event.type });
        return;
      } catch (err) {
        if (this.spool && attempt + 1 >= DIRECT_ATTEMPTS) {
          this.log.warn({ reason: (err as Error).message, eventId: event.id }, 'the bus did not take an event; spooling it');
          this.toSpool(event);
          return;
        }
        if (!this.spool && this.closing && attempt >= 5) {
          this.dropped.inc({ reason: 'shutdown' });
          this.log.error({ err, eventId: event.id, type: event.type }, 'event dropped at shutdown: bus did not accept it');
          return;
        }
        if (attempt === 0) this.log.warn({ reason: (err as Error).message, eventId: event.id }, 'event publish failed; retrying');
        await sleep(retryDelayMs(attempt));
      }
    }
  }

  private toSpool(event: Event): void {
    if (this.spool!.append(event)) {
      this.spooled.inc();
      return;
    }
    this.dropped.inc({ reason: 'spool_full' });
    this.log.error({ eventId: event.id, type: event.type, whenFull: this.whenFull }, 'event spool is full: event lost');
  }

  /** Publishes what the spool holds, in order, while the bus takes it. */
  private replay(): Promise<void> {
    if (!this.spool?.backlog || !this.bus.connected() || this.replaying) return this.replaying ?? Promise.resolve();
    this.replaying = this.spool
      .drain(async (event) => {
        await this.bus.publish(event);
        this.published.inc({ type: event.type });
      })
      .then((count) => {
        if (count > 0) this.log.info({ count }, 'published events from the spool');
      })
      .catch((err: unknown) => this.log.warn({ reason: (err as Error).message }, 'spool replay stopped; will retry'))
      .finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  /** At shutdown: waits for publishes in flight (up to timeoutMs), tries one last replay, and makes the spool durable. */
  async flush(timeoutMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.replayTimer);
    await Promise.race([Promise.all(this.pending), sleep(timeoutMs)]);
    if (this.spool) {
      await Promise.race([this.replay(), sleep(timeoutMs)]);
      await this.spool.close();
    } else if (this.pending.size > 0) {
      this.log.error({ pending: this.pending.size }, 'shutdown with events not yet published');
    }
  }
}
