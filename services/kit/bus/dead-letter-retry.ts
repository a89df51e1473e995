import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { storableText } from '../db/storable.js';
import type { Queryable } from '../db/types.js';
import { decodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';
import { sharedMetric } from '../metrics.js';
import { isolatingRefused, type RefusedForGood } from './refusals.js';

/** How often a consumer tries its dead letters again, besides at start. */
export const DEAD_LETTER_RETRY_MS = 60 * 60_000;

/** Dead letters read at a time, oldest first. */
const PAGE_SIZE = 1_000;

/**
 * How long a try holds its consumer's dead letters for itself, renewed at
 * every page: long enough for a page of slow SIEM deliveries, short enough
 * that a replica that died while holding them does not keep them from the
 * others for more than one hourly try.
 */
const HOLD_MS = 10 * 60_000;

/** Who holds a try, when the caller does not say: this process. */
const THIS_PROCESS = randomUUID();

export interface DeadLetterRetryOptions {
  db: Queryable;
  consumer: string;
  maxBatch: number;
  /** Writes or delivers events as the consumer does; it must be idempotent, as for redelivered events. */
  write(events: Event[]): Promise<void>;
  refusalOf(err: unknown): RefusedForGood | undefined;
  log: Logger;
  metrics: Registry;
  pageSize?: number;
  /** Asked between batches; false ends the try (the service is stopping). */
  goOn?: () => boolean;
  /** Who tries; tries of one consumer by different holders (replicas) never overlap. Default: this process. */
  holder?: string;
}

export interface RetryResult {
  written: number;
  stillRefused: number;
  /** Another replica was trying this consumer's dead letters, so this one did not. */
  heldElsewhere: boolean;
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
 * through ends the try, so a cause not yet fixed costs one page; the next try
 * starts after it and comes round to it last, so letters refused for good do
 * not keep the ones behind them from their turn. A failure of another kind
 * (PostgreSQL or the SIEM down) ends the try too.
 *
 * Replicas of a consumer share its dead letters: a try first takes hold of
 * them (a row in dead_letter_tries), and a replica that finds them held skips
 * its try, so no letter is delivered twice by two replicas at once.
 */
export async function retryDeadLetters(options: DeadLetterRetryOptions): Promise<RetryResult> {
  const { db, consumer, pageSize = PAGE_SIZE, goOn = () => true, holder = THIS_PROCESS } = options;
  const result: RetryResult = { written: 0, stillRefused: 0, heldElsewhere: false };
  const retried = sharedMetric(
    options.metrics,
    'gateway_consumer_dead_letters_retried_total',
    () =>
      new Counter({
        name: 'gateway_consumer_dead_letters_retried_total',
        help: 'Dead letters a consumer wrote or delivered on a later try, by consumer.',
        labelNames: ['consumer'],
        registers: [options.metrics],
      }),
  );
  // A series from the consumer's first try, before any letter is written, so dashboards show it at 0.
  retried.inc({ consumer }, 0);
  const { rows: waiting } = await db.query('SELECT 1 FROM dead_letters WHERE consumer = $1 LIMIT 1', [consumer]);
  if (waiting.length === 0) return result;
  const start = await takeHold(db, consumer, holder);
  if (start === undefined) return { ...result, heldElsewhere: true };

  const attempt = isolatingRefused(
    async (letters: DeadLetter[]) => {
      await options.write(letters.map((l) => l.event));
      // Not atomic with the write: a letter left behind by a crash here is written again, idempotently, next time.
      await db.query('DELETE FROM dead_letters WHERE id = ANY($1::bigint[])', [letters.map((l) => l.id)]);
      result.written += letters.length;
      retried.inc({ consumer }, letters.length);
    },
    options.refusalOf,
    async (letter, err) => {
      result.stillRefused++;
      await db.query('UPDATE dead_letters SET error = $2 WHERE id = $1', [letter.id, storableText(err.message)]);
    },
  );

  // From where the last try stopped to the newest, then round from the oldest up to there.
  let after = start;
  let upTo: string | null = null;
  try {
    for (;;) {
      const { rows } = await db.query<{ id: string; event: Uint8Array }>(
        `SELECT id::text, event FROM dead_letters WHERE consumer = $1 AND id > $2::bigint AND ($3::bigint IS NULL OR id <= $3::bigint)
         ORDER BY id LIMIT $4`,
        [consumer, after, upTo, pageSize],
      );
      const writtenBefore = result.written;
      const letters = rows.map((r) => ({ id: r.id, event: decodeEvent(r.event) }));
      for (let i = 0; i < letters.length && goOn(); i += options.maxBatch) await attempt(letters.slice(i, i + options.maxBatch));
      const atEnd = rows.length < pageSize;
      const stalled = rows.length > 0 && result.written === writtenBefore;
      if (stalled || !goOn() || (atEnd && (upTo !== null || start === '0'))) {
        // At the end, the next try starts over from the oldest.
        await letGo(db, consumer, holder, atEnd ? '0' : rows[rows.length - 1]!.id);
        return result;
      }
      if (atEnd) [after, upTo] = ['0', start];
      else after = rows[rows.length - 1]!.id;
      // Another replica took over (this one was too slow to renew): it goes on from where this try started.
      if (!(await renewHold(db, consumer, holder))) return result;
    }
  } catch (err) {
    await letGo(db, consumer, holder, start).catch(() => undefined);
    throw err;
  }
}

/** Takes hold of a consumer's dead letters unless another holder has them; where the last try stopped. */
async function takeHold(db: Queryable, consumer: string, holder: string): Promise<string | undefined> {
  const { rows } = await db.query<{ resume_after: string }>(
    `INSERT INTO dead_letter_tries (consumer, holder, held_until) VALUES ($1, $2, now() + $3::int * interval '1 millisecond')
     ON CONFLICT (consumer) DO UPDATE SET holder = EXCLUDED.holder, held_until = EXCLUDED.held_until
     WHERE dead_letter_tries.held_until < now() OR dead_letter_tries.holder = EXCLUDED.holder
     RETURNING resume_after::text`,
    [consumer, holder, HOLD_MS],
  );
  return rows[0]?.resume_after;
}

async function renewHold(db: Queryable, consumer: string, holder: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE dead_letter_tries SET held_until = now() + $3::int * interval '1 millisecond' WHERE consumer = $1 AND holder = $2`,
    [consumer, holder, HOLD_MS],
  );
  return rowCount > 0;
}

async function letGo(db: Queryable, consumer: string, holder: string, resumeAfter: string): Promise<void> {
  await db.query(`UPDATE dead_letter_tries SET held_until = '-infinity', resume_after = $3::bigint WHERE consumer = $1 AND holder = $2`, [
    consumer,
    holder,
    resumeAfter,
  ]);
}

/** Retries a consumer's dead letters at start and every DEAD_LETTER_RETRY_MS, never failing the consumer. */
export function retryingDeadLetters(options: DeadLetterRetryOptions, everyMs = DEAD_LETTER_RETRY_MS): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    if (stopped) return;
    running = retryDeadLetters({ ...options, goOn: () => !stopped }).then(
      ({ written, stillRefused, heldElsewhere }) => {
        if (heldElsewhere) options.log.debug({ consumer: options.consumer }, 'dead letters are being tried by another replica');
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
