import { Counter, type Registry } from 'prom-client';
import { isDataError, storableText } from '../db/storable.js';
import type { Migration, Queryable } from '../db/types.js';
import { encodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';
import { sharedMetric } from '../metrics.js';

/** Its own migration component: every persisting consumer shares the table. */
export const DEAD_LETTERS_COMPONENT = 'dead_letters';

export const deadLetterMigrations: Migration[] = [
  {
    version: 1,
    description: 'events a consumer could never write',
    sql: `
      -- An event whose row PostgreSQL refuses for what it holds (a data exception), kept whole instead of
      -- blocking every event behind it; one row per consumer and event, however often it is redelivered.
      CREATE TABLE dead_letters (
        id BIGSERIAL PRIMARY KEY,
        consumer TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        request_id TEXT NOT NULL,
        -- The event as the bus carried it: protobuf gateway.v1.Event.
        event BYTEA NOT NULL,
        error TEXT NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (consumer, event_id)
      );
    `,
  },
];

/** Sets aside an event its consumer can never write or deliver, with why. */
export type SetAside = (consumer: string, event: Event, err: Error) => Promise<void>;

/**
 * Keeps such an event whole in dead_letters (once per consumer, however often
 * it comes back), counts it and logs it at error level.
 */
export function deadLetters(db: Queryable, metrics: Registry, log: Logger): SetAside {
  const count = sharedMetric(metrics, 'gateway_consumer_dead_letters_total', () =>
    new Counter({ name: 'gateway_consumer_dead_letters_total', help: 'Events a durable consumer could never write or deliver, kept in dead_letters, by consumer.', labelNames: ['consumer'], registers: [metrics] }),
  );
  return async (consumer, event, err) => {
    await db.query(
      `INSERT INTO dead_letters (consumer, event_id, event_type, request_id, event, error) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (consumer, event_id) DO NOTHING`,
      [consumer, storableText(event.id), storableText(event.type), storableText(event.requestId), Buffer.from(encodeEvent(event)), storableText(err.message)],
    );
    count.inc({ consumer });
    log.error({ consumer, eventId: event.id, type: event.type, requestId: event.requestId, reason: err.message }, 'event set aside in dead_letters: it can never be written or delivered');
  };
}

/** What a refusal says: the position in the batch of the first item refused, when the receiver tells. */
export interface Refusal {
  at?: number;
}

/** PostgreSQL refuses a batch for what it holds (a data exception): it does not say which row. */
export const refusedByPostgres = (err: unknown): Refusal | undefined => (isDataError(err) ? {} : undefined);

/**
 * A batch writer that, when the receiver refuses what a batch holds (an error
 * `refusalOf` recognizes; no retry can cure it), writes the batch in parts, in
 * order, down to the one item it refuses on its own, which goes to `refused`:
 * one bad item never holds up the items behind it. The parts are the items
 * before the one the refusal names, that item, and those after; or halves,
 * when it names none. Other errors (a lost connection) fail the batch, to be
 * retried whole.
 */
export function isolatingRefused<T>(
  write: (items: T[]) => Promise<void>,
  refusalOf: (err: unknown) => Refusal | undefined,
  refused: (item: T, err: Error) => Promise<void>,
): (items: T[]) => Promise<void> {
  const writeIsolating = async (items: T[]): Promise<void> => {
    if (items.length === 0) return;
    try {
      await write(items);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      if (items.length === 1) return refused(items[0]!, err as Error);
      const at = refusal.at;
      const parts =
        at !== undefined && Number.isInteger(at) && at >= 0 && at < items.length
          ? [items.slice(0, at), items.slice(at, at + 1), items.slice(at + 1)]
          : [items.slice(0, Math.ceil(items.length / 2)), items.slice(Math.ceil(items.length / 2))];
      for (const part of parts) await writeIsolating(part);
    }
  };
  return writeIsolating;
}
