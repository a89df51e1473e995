import type { Database, Queryable } from '../db/types.js';
import type { Event } from '../events.js';
import type { RunningService, ServiceContext } from '../service.js';
import { deadLetters } from './dead-letters.js';
import { startGuardedConsumer } from './guarded-consumer.js';
import { refusedByPostgres } from './refusals.js';

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
export async function startPersistingConsumer(
  ctx: Pick<ServiceContext, 'bus' | 'metrics' | 'log'>,
  options: PersistingConsumerOptions,
): Promise<RunningService> {
  const { db } = options;
  const bus = await ctx.bus();
  const write = (events: Event[]) => (options.oneStatement ? options.write(db, events) : db.transaction((tx) => options.write(tx, events), options.opening));
  const consumer = await startGuardedConsumer(bus, {
    name: options.name,
    filter: options.filter,
    maxBatch: options.maxBatch,
    keepsEvents: true,
    write,
    refusalOf: refusedByPostgres,
    deadLetters: deadLetters(db, ctx.metrics, ctx.log),
    metrics: ctx.metrics,
  });
  return {
    ready: () => bus.connected(),
    stop: () => consumer.stop(),
  };
}
