import { Counter, Histogram, type Registry } from 'prom-client';
import type { Database, Queryable } from '../db/types.js';
import type { Event } from '../events.js';
import { LATENCY_BUCKETS, sharedMetric } from '../metrics.js';
import type { RunningService, ServiceContext } from '../service.js';
import { deadLetters } from './dead-letters.js';
import { refusedByPostgres } from './refusals.js';
import type { BatchHandler } from './types.js';

export interface PersistingConsumerOptions {
  /** Durable consumer name, e.g. "audit". */
  name: string;
  /** The connection batches and dead letters are written with (the service's role; its plan made the tables). */
  db: Database;
  /** Event types to consume, as one subject pattern (">" for all). */
  filter: string;
  maxBatch: number;
  /**
   * Writes a batch idempotently (a redelivered event must not make a second row), in one transaction, or, with
   * oneStatement, as a single statement, atomic by itself, without one (one round trip instead of three).
   */
  write(db: Queryable, events: Event[]): Promise<void>;
  oneStatement?: boolean;
  /** A statement without parameters the transaction opens with, sent with BEGIN (e.g. taking a lock). */
  opening?: string;
}

/**
 * A service that persists events: a durable consumer whose batches are written atomically (in one transaction, or one
 * statement) and acknowledged only after they are.
 */
export async function startPersistingConsumer(ctx: ServiceContext, options: PersistingConsumerOptions): Promise<RunningService> {
  const { db } = options;
  const bus = await ctx.bus();
  const write = (events: Event[]) => (options.oneStatement ? options.write(db, events) : db.transaction((tx) => options.write(tx, events), options.opening));
  const guarded = deadLetters(db, ctx.metrics, ctx.log).guard(options.name, options.maxBatch, write, refusedByPostgres);
  const consumer = await bus
    .consume({ name: options.name, filter: options.filter, maxBatch: options.maxBatch }, measured(options.name, ctx.metrics, guarded.write))
    .catch(async (err: unknown) => {
      await guarded.stop();
      throw err;
    });
  return {
    ready: () => bus.connected(),
    stop: async () => {
      await guarded.stop();
      await consumer.stop();
    },
  };
}

function measured(consumer: string, metrics: Registry, handler: BatchHandler): BatchHandler {
  const handled = sharedMetric(metrics, 'gateway_consumer_events_total', () =>
    new Counter({ name: 'gateway_consumer_events_total', help: 'Events a durable consumer committed, by consumer.', labelNames: ['consumer'], registers: [metrics] }),
  );
  const failures = sharedMetric(metrics, 'gateway_consumer_batch_failures_total', () =>
    new Counter({ name: 'gateway_consumer_batch_failures_total', help: 'Batches whose write failed (they are retried), by consumer.', labelNames: ['consumer'], registers: [metrics] }),
  );
  const duration = sharedMetric(metrics, 'gateway_consumer_batch_duration_seconds', () =>
    new Histogram({ name: 'gateway_consumer_batch_duration_seconds', help: 'Time to write one batch, by consumer.', labelNames: ['consumer'], buckets: LATENCY_BUCKETS, registers: [metrics] }),
  );
  return async (events) => {
    const stop = duration.startTimer({ consumer });
    try {
      await handler(events);
      handled.inc({ consumer }, events.length);
    } catch (err) {
      failures.inc({ consumer });
      throw err;
    } finally {
      stop();
    }
  };
}
