import { Counter, Histogram, type Registry } from 'prom-client';
import type { Event } from '../events.js';
import { LATENCY_BUCKETS, sharedMetric } from '../metrics.js';
import type { DeadLetters } from './dead-letters.js';
import type { RefusedForGood } from './refusals.js';
import type { BatchHandler, ConsumeOptions, Consumer, EventBus } from './types.js';

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
  const { name, filter, maxBatch, startAt } = options;
  const labels = { consumer: name };
  const m = consumerMetrics(options.metrics);
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
  const consumer = await bus.consume({ name, filter, maxBatch, startAt }, handler).catch(async (err: unknown) => {
    await guarded.stop();
    throw err;
  });
  return { stop: async () => void (await Promise.all([guarded.stop(), consumer.stop()])) };
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
