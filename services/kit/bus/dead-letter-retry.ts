import { Counter, type Registry } from 'prom-client';
import { storableText } from '../db/storable.js';
import type { Queryable } from '../db/types.js';
import { decodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';
import { sharedMetric } from '../metrics.js';
import { isolatingRefused, type Refusal } from './refusals.js';

/** How often a consumer tries its dead letters again, besides at start. */
export const DEAD_LETTER_RETRY_MS = 60 * 60_000;

/** Dead letters read at a time, oldest first. */
const PAGE_SIZE = 1_000;

export interface DeadLetterRetryOptions {
  db: Queryable;
  consumer: string;
  maxBatch: number;
  /** Writes or delivers events as the consumer does; it must be idempotent, as for redelivered events. */
  write(events: Event[]): Promise<void>;
  refusalOf(err: unknown): Refusal | undefined;
  log: Logger;
  metrics: Registry;
  pageSize?: number;
  /** Asked between batches; false ends the try (the service is stopping). */
  goOn?: () => boolean;
  /** Start after this id (where the last try stopped), not at the oldest. */
  after?: string;
}

interface DeadLetter {
  id: string;
  event: Event;
}

/**
 * Tries once more to write or deliver a consumer's dead letters, in batches of
 * maxBatch, in the order they were set aside. Each one that goes through leaves
 * the table; each one still refused stays, with the new error. Once its cause
 * is fixed (a price, a SIEM's size limit) they go through at the next try, page
 * after page, for as long as a page gets some through. A page that gets none
 * through ends the try, so a cause not yet fixed costs one page; `resumeAfter`
 * says where the next try starts, so letters refused for good do not keep the
 * ones behind them from their turn. A failure of another kind (PostgreSQL or
 * the SIEM down) ends the try too.
 */
export async function retryDeadLetters(options: DeadLetterRetryOptions): Promise<{ written: number; stillRefused: number; resumeAfter: string }> {
  const { db, consumer, pageSize = PAGE_SIZE, goOn = () => true } = options;
  const retried = sharedMetric(options.metrics, 'gateway_consumer_dead_letters_retried_total', () =>
    new Counter({ name: 'gateway_consumer_dead_letters_retried_total', help: 'Dead letters a consumer wrote or delivered on a later try, by consumer.', labelNames: ['consumer'], registers: [options.metrics] }),
  );
  let written = 0;
  let stillRefused = 0;
  const attempt = isolatingRefused(
    async (letters: DeadLetter[]) => {
      await options.write(letters.map((l) => l.event));
      // Not atomic with the write: a letter left behind by a crash here is written again, idempotently, next time.
      await db.query('DELETE FROM dead_letters WHERE id = ANY($1::bigint[])', [letters.map((l) => l.id)]);
      written += letters.length;
      retried.inc({ consumer }, letters.length);
    },
    options.refusalOf,
    async (letter, err) => {
      stillRefused++;
      await db.query('UPDATE dead_letters SET error = $2 WHERE id = $1', [letter.id, storableText(err.message)]);
    },
  );
  let after = options.after ?? '0';
  for (;;) {
    const { rows } = await db.query<{ id: string; event: Uint8Array }>(
      'SELECT id::text, event FROM dead_letters WHERE consumer = $1 AND id > $2::bigint ORDER BY id LIMIT $3',
      [consumer, after, pageSize],
    );
    const writtenBefore = written;
    const letters = rows.map((r) => ({ id: r.id, event: decodeEvent(r.event) }));
    for (let i = 0; i < letters.length && goOn(); i += options.maxBatch) await attempt(letters.slice(i, i + options.maxBatch));
    // At the end, the next try starts over from the oldest.
    if (rows.length < pageSize) return { written, stillRefused, resumeAfter: '0' };
    after = rows[rows.length - 1]!.id;
    if (written === writtenBefore || !goOn()) return { written, stillRefused, resumeAfter: after };
  }
}

/** Retries a consumer's dead letters at start and every DEAD_LETTER_RETRY_MS, never failing the consumer. */
export function retryingDeadLetters(options: DeadLetterRetryOptions, everyMs = DEAD_LETTER_RETRY_MS): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let after = '0';
  const run = () => {
    if (stopped) return;
    running = retryDeadLetters({ ...options, after, goOn: () => !stopped }).then(
      ({ written, stillRefused, resumeAfter }) => {
        after = resumeAfter;
        if (written > 0 || stillRefused > 0) options.log.info({ consumer: options.consumer, written, stillRefused }, 'tried dead letters again');
      },
      (err: unknown) => options.log.warn({ consumer: options.consumer, err }, 'could not try dead letters again; will at the next try'),
    );
  };
  run();
  const timer = setInterval(() => void running.then(run), everyMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
