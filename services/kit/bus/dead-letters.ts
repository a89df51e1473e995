import { Counter, type Registry } from 'prom-client';
import { tableGrants } from '../db/plan.js';
import { storableText } from '../db/storable.js';
import type { Migration, Queryable } from '../db/types.js';
import { decodeEvent, encodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';
import { sharedMetric } from '../metrics.js';
import { retryingDeadLetters } from './dead-letter-retry.js';
import { isolatingRefused, type RefusedForGood } from './refusals.js';

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
  {
    version: 2,
    description: 'one try at a time per consumer, across replicas',
    sql: `
      -- Which replica is trying a consumer's dead letters again (until held_until), and where the last try stopped.
      CREATE TABLE dead_letter_tries (
        consumer TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        held_until TIMESTAMPTZ NOT NULL,
        resume_after BIGINT NOT NULL DEFAULT 0
      );
    `,
  },
];

/** What a service that keeps dead letters may do with them (see DatabasePlan). */
export const deadLetterTables = tableGrants('SELECT, INSERT, UPDATE, DELETE', ['dead_letters', 'dead_letter_tries'], ['dead_letters_id_seq']);

/** Sets aside an event its consumer can never write or deliver, with why. */
export type SetAside = (consumer: string, event: Event, err: Error) => Promise<void>;

/** A consumer's writer that sets aside what its receiver refuses, and the retries of those. */
export interface Guarded {
  write(events: Event[]): Promise<void>;
  /** Stops the retries; before the database closes. */
  stop(): Promise<void>;
}

/** What a consumer does with events it cannot write or deliver. */
export interface DeadLetters {
  setAside: SetAside;
  /**
   * `write` (idempotent, as for redelivered events) for `consumer`, made to set
   * aside each event its receiver refuses on its own (see isolatingRefused) and
   * to try those again at start and every hour; each that goes through leaves
   * the table.
   */
  guard(consumer: string, maxBatch: number, write: (events: Event[]) => Promise<void>, refusalOf: (err: unknown) => RefusedForGood | undefined): Guarded;
}

/** `write` made to set aside, with `setAside`, each event its receiver refuses on its own (see isolatingRefused). */
export function settingAsideRefused(
  consumer: string,
  write: (events: Event[]) => Promise<void>,
  refusalOf: (err: unknown) => RefusedForGood | undefined,
  setAside: SetAside,
): (events: Event[]) => Promise<void> {
  return isolatingRefused(write, refusalOf, (event, err) => setAside(consumer, event, err));
}

/**
 * Dead letters in the dead_letters table: an event set aside is kept whole
 * (once per consumer, however often it comes back), counted and logged at
 * error level.
 */
export function deadLetters(db: Queryable, metrics: Registry, log: Logger): DeadLetters {
  const count = sharedMetric(
    metrics,
    'gateway_consumer_dead_letters_total',
    () =>
      new Counter({
        name: 'gateway_consumer_dead_letters_total',
        help: 'Events a durable consumer could never write or deliver, kept in dead_letters, by consumer.',
        labelNames: ['consumer'],
        registers: [metrics],
      }),
  );
  const setAside: SetAside = async (consumer, event, err) => {
    await db.query(
      `INSERT INTO dead_letters (consumer, event_id, event_type, request_id, event, error) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (consumer, event_id) DO NOTHING`,
      [consumer, storableText(event.id), storableText(event.type), storableText(event.requestId), Buffer.from(encodeEvent(event)), storableText(err.message)],
    );
    count.inc({ consumer });
    log.error(
      { consumer, eventId: event.id, type: event.type, requestId: event.requestId, reason: err.message },
      'event set aside in dead_letters: refused for what it holds (tried again at start and every hour)',
    );
  };
  return {
    setAside,
    guard: (consumer, maxBatch, write, refusalOf) => {
      // A series from the start, so that the first dead letter is an increase an alert sees.
      count.inc({ consumer }, 0);
      return {
        write: settingAsideRefused(consumer, write, refusalOf, setAside),
        stop: retryingDeadLetters({ db, consumer, maxBatch, write, refusalOf, log, metrics }).stop,
      };
    },
  };
}

export interface DeadLetterRow {
  id: string;
  consumer: string;
  eventType: string;
  requestId: string;
  error: string;
  recordedAt: Date;
  event: Event;
}

/** The dead letters of every consumer, or of one, newest first. */
export async function listDeadLetters(db: Queryable, consumer: string | undefined, limit: number): Promise<DeadLetterRow[]> {
  const { rows } = await db.query<{
    id: string;
    consumer: string;
    event_type: string;
    request_id: string;
    error: string;
    recorded_at: Date;
    event: Uint8Array;
  }>(
    `SELECT id::text, consumer, event_type, request_id, error, recorded_at, event FROM dead_letters
     WHERE $1::text IS NULL OR consumer = $1 ORDER BY id DESC LIMIT $2`,
    [consumer ?? null, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    consumer: r.consumer,
    eventType: r.event_type,
    requestId: r.request_id,
    error: r.error,
    recordedAt: new Date(r.recorded_at),
    event: decodeEvent(r.event),
  }));
}
