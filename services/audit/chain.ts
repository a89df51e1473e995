import { createHash } from 'node:crypto';
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

export const CHAINED_COLUMNS = 'event_id, event_type, occurred_at, request_id, trace_id, service, source_address, actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload';

/** SHA-256 over the previous row's hash and this row's canonical JSON. */
export function chainHash(previous: string, row: ChainedRow): string {
  return createHash('sha256').update(previous).update('\n').update(canonicalJson(row)).digest('hex');
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
 * else the last archive (when every row was archived), else the genesis.
 */
export const CHAIN_HEAD = `SELECT seq, hash FROM (
    (SELECT seq, hash, 1 AS rank FROM audit_events WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1)
    UNION ALL (SELECT up_to_seq, last_hash, 2 FROM audit_archives ORDER BY id DESC LIMIT 1)
    UNION ALL (SELECT 0, '${GENESIS}', 3)
  ) AS head ORDER BY rank LIMIT 1`;

/** Where the chain stands: the last row's position and hash (after archived rows, if all were archived). */
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
 * Chains rows written before the chain existed (an older version's log), in
 * order, so verify covers them too. Runs at start, in maintenance mode.
 */
export async function chainUnhashedRows(db: Queryable): Promise<number> {
  await db.query("SELECT set_config('gateway.audit_maintenance', 'on', true)");
  await lockChain(db);
  const { rows } = await db.query<Record<string, unknown> & { seq: number }>(`SELECT seq, ${CHAINED_COLUMNS} FROM audit_events WHERE hash IS NULL ORDER BY seq`);
  if (rows.length === 0) return 0;
  const before = await db.query<{ hash: string }>('SELECT hash FROM audit_events WHERE hash IS NOT NULL AND seq < $1 ORDER BY seq DESC LIMIT 1', [rows[0]!.seq]);
  let previous = before.rows[0]?.hash ?? GENESIS;
  for (const row of rows) {
    const hash = chainHash(previous, chainedRow(row));
    await db.query('UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE seq = $1', [row.seq, previous, hash]);
    previous = hash;
  }
  return rows.length;
}
