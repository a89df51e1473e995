import { isDataError, storableText } from '../db/storable.js';
import type { Migration, Queryable } from '../db/types.js';
import { encodeEvent, type Event } from '../events.js';

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

/** Keeps an event its consumer cannot write, with why. */
export async function setAside(db: Queryable, consumer: string, event: Event, err: Error): Promise<void> {
  await db.query(
    `INSERT INTO dead_letters (consumer, event_id, event_type, request_id, event, error) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (consumer, event_id) DO NOTHING`,
    [consumer, storableText(event.id), storableText(event.type), storableText(event.requestId), Buffer.from(encodeEvent(event)), storableText(err.message)],
  );
}

/**
 * A batch writer that, when PostgreSQL refuses values in a batch, writes its
 * halves apart (in order) down to the one event it refuses, which goes to
 * `refused`: one bad event never holds up the events behind it. Other errors
 * (a lost connection) fail the batch, to be retried whole.
 */
export function isolatingRefused(write: (events: Event[]) => Promise<void>, refused: (event: Event, err: Error) => Promise<void>): (events: Event[]) => Promise<void> {
  const writeIsolating = async (events: Event[]): Promise<void> => {
    try {
      await write(events);
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (events.length === 1) return refused(events[0]!, err as Error);
      const half = Math.ceil(events.length / 2);
      await writeIsolating(events.slice(0, half));
      await writeIsolating(events.slice(half));
    }
  };
  return writeIsolating;
}
