import { Counter, type Registry } from 'prom-client';
import { storableText } from '../db/storable.js';
import type { Queryable } from '../db/types.js';
import { decodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';
import { sharedMetric } from '../metrics.js';
import { isolatingRefused, type Refusal } from './refusals.js';

/** How often a consumer tries its dead letters again, besides at start. */
export const DEAD_LETTER_RETRY_MS = 60 * 60_000;

/** Most dead letters one try takes, oldest first; the rest wait for the next. */
const RETRY_LIMIT = 1_000;

export interface DeadLetterRetryOptions {
  db: Queryable;
  consumer: string;
  maxBatch: number;
  /** Writes or delivers events as the consumer does; it must be idempotent, as for redelivered events. */
  write(events: Event[]): Promise<void>;
  refusalOf(err: unknown): Refusal | undefined;
  log: Logger;
  metrics: Registry;
}

interface DeadLetter {
  id: string;
  event: Event;
}

/**
 * Tries once more to write or deliver a consumer's dead letters, in batches of
 * maxBatch, oldest first. Each one that goes through leaves the table; each one
 * still refused stays, with the new error. Once its cause is fixed (a price, a
 * SIEM's size limit) they go through at the next try. A failure of another kind
 * (PostgreSQL or the SIEM down) ends the try; the rest wait for the next.
 */
export async function retryDeadLetters(options: DeadLetterRetryOptions): Promise<{ written: number; stillRefused: number }> {
  const { db, consumer } = options;
  const { rows } = await db.query<{ id: string; event: Uint8Array }>('SELECT id, event FROM dead_letters WHERE consumer = $1 ORDER BY id LIMIT $2', [consumer, RETRY_LIMIT]);
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
  const letters = rows.map((r) => ({ id: String(r.id), event: decodeEvent(r.event) }));
  for (let i = 0; i < letters.length; i += options.maxBatch) await attempt(letters.slice(i, i + options.maxBatch));
  return { written, stillRefused };
}

/** Retries a consumer's dead letters at start and every DEAD_LETTER_RETRY_MS, never failing the consumer. */
export function retryingDeadLetters(options: DeadLetterRetryOptions, everyMs = DEAD_LETTER_RETRY_MS): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    if (stopped) return;
    running = retryDeadLetters(options).then(
      ({ written, stillRefused }) => {
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
