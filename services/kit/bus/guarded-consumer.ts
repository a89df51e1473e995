import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Event } from '../events.js';
import { LATENCY_BUCKETS, sharedMetric } from '../metrics.js';
import type { DeadLetters } from './dead-letters.js';
import type { RefusedForGood } from './refusals.js';
import type { BatchHandler, ConsumeOptions, Consumer, DurableConsumer, EventBus } from './types.js';

export interface GuardedConsumerOptions extends ConsumeOptions {
  /** Writes or delivers a batch; idempotent, since the bus redelivers a batch that failed. */
  write(events: Event[]): Promise<void>;
  /** Recognizes an error by which the receiver refuses what a batch holds. */
  refusalOf(err: unknown): RefusedForGood | undefined;
  deadLetters: DeadLetters;
  metrics: Registry;
}

/**
 * A durable consumer whose batches go to `write`, counted and timed by
 * consumer name; an event its receiver refuses on its own is set aside in
 * dead_letters (and tried again later) instead of holding up those behind it.
 * Both persisting services (audit, metering) and the SIEM sinks run as one.
 */
export async function startGuardedConsumer(bus: EventBus, options: GuardedConsumerOptions): Promise<Consumer> {
  const { name, filter, maxBatch, startAt, keepsEvents } = options;
  const labels = { consumer: name };
  const m = consumerMetrics(options.metrics);
  // Series from the start, so that the first failure is an increase Prometheus sees, not a series appearing.
  m.handled.inc(labels, 0);
  m.failures.inc(labels, 0);
  // Counted where events go through, so those set aside are not, and those a later try delivers are.
  const write = async (events: Event[]) => {
    await options.write(events);
    m.handled.inc(labels, events.length);
  };
  const guarded = options.deadLetters.guard(name, maxBatch, write, options.refusalOf);
  const handler: BatchHandler = async (events) => {
    const stop = m.duration.startTimer(labels);
    try {
      await guarded.write(events);
    } catch (err) {
      m.failures.inc(labels);
      throw err;
    } finally {
      stop();
    }
  };
  const consumer = await bus.consume({ name, filter, maxBatch, startAt, keepsEvents }, handler).catch(async (err: unknown) => {
    await guarded.stop();
    throw err;
  });
  const pending = runningConsumers(options.metrics);
  pending.set(name, consumer);
  return {
    stop: async () => {
      pending.delete(name);
      await Promise.all([guarded.stop(), consumer.stop()]);
    },
  };
}

/** Each registry's running consumers, asked for their backlog when Prometheus scrapes. */
const running = new WeakMap<Registry, Map<string, DurableConsumer>>();

function runningConsumers(metrics: Registry): Map<string, DurableConsumer> {
  const known = running.get(metrics);
  if (known) return known;
  const consumers = new Map<string, DurableConsumer>();
  running.set(metrics, consumers);
  new Gauge({
    name: 'gateway_consumer_pending_messages',
    help: 'Messages the bus holds for a durable consumer that it has not yet handled (its lag), by consumer.',
    labelNames: ['consumer'],
    registers: [metrics],
    async collect() {
      this.reset();
      await Promise.all(
        [...consumers].map(async ([consumer, c]) => {
          // A bus out of reach leaves the series out rather than failing the whole scrape.
          const pending = await c.pending().catch(() => undefined);
          if (pending !== undefined) this.set({ consumer }, pending);
        }),
      );
    },
  });
  return consumers;
}

/** One set per registry, shared by every consumer of the process. */
function consumerMetrics(metrics: Registry) {
  return {
    handled: sharedMetric(
      metrics,
      'gateway_consumer_events_total',
      () =>
        new Counter({
          name: 'gateway_consumer_events_total',
          help: 'Events a durable consumer wrote or delivered, by consumer.',
          labelNames: ['consumer'],
          registers: [metrics],
        }),
    ),
    failures: sharedMetric(
      metrics,
      'gateway_consumer_batch_failures_total',
      () =>
        new Counter({
          name: 'gateway_consumer_batch_failures_total',
          help: 'Batches a durable consumer failed to write or deliver (they are retried), by consumer.',
          labelNames: ['consumer'],
          registers: [metrics],
        }),
    ),
    duration: sharedMetric(
      metrics,
      'gateway_consumer_batch_duration_seconds',
      () =>
        new Histogram({
          name: 'gateway_consumer_batch_duration_seconds',
          help: 'Time to write or deliver one batch, by consumer.',
          labelNames: ['consumer'],
          buckets: LATENCY_BUCKETS,
          registers: [metrics],
        }),
    ),
  };
}
