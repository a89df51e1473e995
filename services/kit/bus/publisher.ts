import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import { readOnScrape } from '../metrics.js';
import type { Event } from '../events.js';
import type { Logger } from '../log.js';
import { retryDelayMs, type EventBus } from './types.js';

/**
 * Publishes events off the request path: emit() returns at once, and the event
 * is retried with backoff until the bus accepts it. flush() waits for what is
 * still pending (graceful shutdown). Pending events are held in memory, up to
 * `maxPending`; past that, new events are dropped and counted.
 */
export class EventPublisher {
  private readonly pending = new Set<Promise<void>>();
  private readonly published: Counter<'type'>;
  private readonly failed: Counter<'reason'>;
  private closing = false;

  constructor(
    private readonly bus: EventBus,
    private readonly log: Logger,
    metrics: Registry,
    private readonly maxPending = 100_000,
  ) {
    this.published = new Counter({
      name: 'gateway_events_published_total',
      help: 'Events the bus accepted, by type.',
      labelNames: ['type'],
      registers: [metrics],
    });
    this.failed = new Counter({
      name: 'gateway_events_publish_failures_total',
      help: 'Event publish attempts that failed (retried) or events dropped, by reason.',
      labelNames: ['reason'],
      registers: [metrics],
    });
    readOnScrape(metrics, 'gateway_events_pending', 'Events emitted but not yet accepted by the bus.', () => this.pending.size);
  }

  emit(event: Event): void {
    if (this.pending.size >= this.maxPending) {
      this.failed.inc({ reason: 'dropped_queue_full' });
      this.log.error({ eventId: event.id, type: event.type }, 'event dropped: publish queue is full');
      return;
    }
    const task = this.publishWithRetry(event).finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  private async publishWithRetry(event: Event): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bus.publish(event);
        this.published.inc({ type: event.type });
        return;
      } catch (err) {
        this.failed.inc({ reason: 'retry' });
        if (this.closing && attempt >= 5) {
          this.failed.inc({ reason: 'dropped_on_shutdown' });
          this.log.error({ err, eventId: event.id, type: event.type }, 'event dropped at shutdown: bus did not accept it');
          return;
        }
        if (attempt === 0) this.log.warn({ err, eventId: event.id, type: event.type }, 'event publish failed; retrying');
        await sleep(retryDelayMs(attempt));
      }
    }
  }

  /** Waits for pending events to be accepted, up to timeoutMs. */
  async flush(timeoutMs: number): Promise<void> {
    this.closing = true;
    const all = Promise.all(this.pending);
    await Promise.race([all, sleep(timeoutMs)]);
    if (this.pending.size > 0) this.log.error({ pending: this.pending.size }, 'shutdown with events not yet published');
  }
}
