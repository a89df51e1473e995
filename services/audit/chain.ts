import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from '../kit/canonical-json.js';
import type { Queryable } from '../kit/db/types.js';

/** The hash before the first row. */
export const GENESIS = '0'.repeat(64);

/** What a row's hash covers: every column but its position and the hashes. */
export interface ChainedRow {
  event_id: string;
  event_type: string;
  occurred_at: string;
  request_id: string;
  trace_id: string;
  service: string;
  source_address: string;
  actor_key_id: string;
  actor_team_id: string;
  actor_customer_id: string;
  actor_admin: string;
  schema_version: number;
  payload: unknown;
}

export const CHAINED_COLUMNS =
  'event_id, event_type, occurred_at, request_id, trace_id, service, source_address, actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload';

/** A key rows are chained with: its bytes, and the id rows and checkpoints name it by. */
export interface ChainKey {
  id: string;
  secret: Buffer;
}

export function chainKey(secret: Buffer): ChainKey {
  return { id: createHmac('sha256', secret).update('gateway audit chain key id').digest('hex').slice(0, 16), secret };
}

/**
 * HMAC-SHA-256 with the key over the previous row's hash and this row's
 * canonical JSON; plain SHA-256 without one (rows older versions wrote, before
 * the log's audit.chain_keyed row). Only the key's holder can make a keyed hash.
 */
export function chainHash(previous: string, row: ChainedRow, key?: ChainKey): string {
  const hash = key ? createHmac('sha256', key.secret) : createHash('sha256');
  return hash.update(previous).update('\n').update(canonicalJson(row)).digest('hex');
}

/** A row as read from the database, in the form its hash was computed over. */
export function chainedRow(row: Record<string, unknown>): ChainedRow {
  return {
    event_id: String(row.event_id),
    event_type: String(row.event_type),
    occurred_at: new Date(row.occurred_at as string | Date).toISOString(),
    request_id: String(row.request_id),
    trace_id: String(row.trace_id),
    service: String(row.service),
    source_address: String(row.source_address),
    actor_key_id: String(row.actor_key_id),
    actor_team_id: String(row.actor_team_id),
    actor_customer_id: String(row.actor_customer_id),
    actor_admin: String(row.actor_admin),
    schema_version: Number(row.schema_version),
    payload: row.payload,
  };
}

/**
 * Where the chain stands, as one SQL row (seq, hash): the last chained row,
 * else the genesis. Never audit_archives, which anyone allowed to archive can
 * write: retention leaves its own audit.archived row behind, so the log is
 * never empty once it has begun.
 */
export const CHAIN_HEAD = `SELECT seq, hash FROM (
    (SELECT seq, hash, 1 AS rank FROM audit_events WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1)
    UNION ALL (SELECT 0, '${GENESIS}', 2)
  ) AS head ORDER BY rank LIMIT 1`;

/** Where the chain stands: the last row's position and hash. */
export async function chainHead(db: Queryable): Promise<{ seq: number; hash: string }> {
  const { rows } = await db.query<{ seq: number; hash: string }>(CHAIN_HEAD);
  return { seq: Number(rows[0]!.seq), hash: rows[0]!.hash };
}

/** Writers of the chain take this lock for their transaction, so rows are chained one writer at a time, on every replica. */
export async function lockChain(db: Queryable): Promise<void> {
  await db.query(LOCK_CHAIN);
}

/** The statement lockChain runs, for a transaction to open with (see Database.transaction). */
export const LOCK_CHAIN = "SELECT pg_advisory_xact_lock(hashtext('gateway.audit_chain'))";

/**
 * Chains rows written before the chain existed (a log from before audit
 * migration 2), in order and unkeyed, as they came before any keyed row, so
 * verify covers them too. Runs at start as the tables' owner, the one role
 * that may lift the append-only trigger, for its transaction.
 */
export async function chainUnhashedRows(db: Queryable): Promise<number> {
  await lockChain(db);
  const { rows } = await db.query<Record<string, unknown> & { seq: number }>(
    `SELECT seq, ${CHAINED_COLUMNS} FROM audit_events WHERE hash IS NULL ORDER BY seq`,
  );
  if (rows.length === 0) return 0;
  await db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change');
  const before = await db.query<{ hash: string }>('SELECT hash FROM audit_events WHERE hash IS NOT NULL AND seq < $1 ORDER BY seq DESC LIMIT 1', [
    rows[0]!.seq,
  ]);
  let previous = before.rows[0]?.hash ?? GENESIS;
  for (const row of rows) {
    const hash = chainHash(previous, chainedRow(row));
    await db.query('UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE seq = $1', [row.seq, previous, hash]);
    previous = hash;
  }
  await db.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change');
  return rows.length;
}
