import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { Queryable } from '../kit/db/types.js';
import { CHAINED_COLUMNS, chainHash, chainHead, chainedRow, GENESIS } from './chain.js';

export type Verdict =
  | { ok: true; rows: number; head: { seq: number; hash: string } }
  | { ok: false; rows: number; seq: number; eventId: string; problem: string };

const PAGE = 1_000;

/**
 * Walks the audit log in order and recomputes every row's hash: the first row
 * whose content no longer matches its hash, or whose link to the row before is
 * broken (a row changed, removed or inserted), is named.
 */
export async function verifyChain(db: Queryable): Promise<Verdict> {
  const archived = await db.query<{ up_to_seq: number; last_hash: string }>('SELECT up_to_seq, last_hash FROM audit_archives ORDER BY id DESC LIMIT 1');
  let previous = archived.rows[0]?.last_hash ?? GENESIS;
  let after = Number(archived.rows[0]?.up_to_seq ?? 0);
  let checked = 0;
  for (;;) {
    const { rows } = await db.query<Record<string, unknown> & { seq: number; prev_hash: string | null; hash: string | null }>(
      `SELECT seq, prev_hash, hash, ${CHAINED_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`,
      [after],
    );
    for (const row of rows) {
      const seq = Number(row.seq);
      const eventId = String(row.event_id);
      if (row.prev_hash !== previous) {
        return { ok: false, rows: checked, seq, eventId, problem: `its link to the row before is broken (expected ${previous.slice(0, 12)}…, found ${String(row.prev_hash).slice(0, 12)}…): a row before it was removed, inserted or changed` };
      }
      if (chainHash(previous, chainedRow(row)) !== row.hash) {
        return { ok: false, rows: checked, seq, eventId, problem: 'its content does not match its hash: the row was changed' };
      }
      previous = row.hash!;
      after = seq;
      checked++;
    }
    if (rows.length < PAGE) break;
  }
  return { ok: true, rows: checked, head: await chainHead(db) };
}

/**
 * The chain's head, signed with an Ed25519 key, to be kept outside the
 * database: a later verify that ends on the same hash proves nothing before it
 * was rewritten.
 */
export async function signedHead(db: Queryable, privateKeyPem: string | undefined) {
  const head = await chainHead(db);
  const statement = { log: 'audit_events', seq: head.seq, hash: head.hash, at: new Date().toISOString() };
  if (!privateKeyPem) return statement;
  const key = createPrivateKey(privateKeyPem);
  const signature = sign(null, Buffer.from(JSON.stringify(statement)), key).toString('base64');
  const publicKey = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return { ...statement, signature, public_key: publicKey, signed: 'the JSON of log, seq, hash and at, in that order, with Ed25519' };
}
