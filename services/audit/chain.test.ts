import { generateKeyPairSync, verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainUnhashedRows, LOCK_CHAIN } from './chain.js';
import { archiveOlderThan } from './retention.js';
import { auditMigrations } from './migrations.js';
import { signedHead, verifyChain } from './verify.js';
import { appendToChain, writeAuditEvents } from './writer.js';

const log = createLogger({ level: 'silent' });

function events(n: number, from = 0) {
  return Array.from({ length: n }, (_, i) =>
    requestEvent(EventType.requestCompleted, { service: 'ingress', context: { requestId: `req_${from + i}`, traceId: '', actor: undefined, sourceAddress: '10.0.0.9' } }, {
      endpoint: 'chat.completions', model: 'mock/echo', served: undefined, httpStatus: 200, usage: undefined, stream: false, cacheHit: false,
      durationMs: 12.345678 + i, errorCode: '', errorMessage: '', attempts: [],
    }),
  );
}

/** A database superuser going around the gateway: the maintenance setting switches the append-only trigger off. */
async function tamper(db: Database, sql: string, params: unknown[] = []): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("SELECT set_config('gateway.audit_maintenance', 'on', true)");
    await tx.query(sql, params);
  });
}

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('tamper-evident audit log on %s', (kind) => {
  let handle: Awaited<ReturnType<(typeof DATABASE_KINDS)['postgres']>> | undefined;
  afterEach(() => handle?.cleanup());

  async function setup(): Promise<Database> {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, 'audit', auditMigrations, log);
    const write = (batch: ReturnType<typeof events>) => handle!.db.transaction((tx) => writeAuditEvents(tx, batch));
    const first = events(5);
    await write(first);
    await write([...first.slice(3), ...events(5, 5)]); // two redelivered, five new
    return handle.db;
  }

  it('chains every row once, and verify walks the chain to its head', async () => {
    const db = await setup();
    const verdict = await verifyChain(db);
    expect(verdict).toMatchObject({ ok: true, rows: 10 });
    const { rows } = await db.query<{ n: number }>('SELECT count(DISTINCT event_id)::int AS n FROM audit_events');
    expect(rows[0]!.n).toBe(10);
  });

  it('keeps one chain when writers that took the lock as their transaction opened write at once', async () => {
    const db = await setup();
    await Promise.all(Array.from({ length: 8 }, (_, i) => db.transaction((tx) => appendToChain(tx, events(4, 100 + i * 4)), LOCK_CHAIN)));
    expect(await verifyChain(db)).toMatchObject({ ok: true, rows: 42 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE', async () => {
    const db = await setup();
    await expect(db.query("UPDATE audit_events SET event_type = 'x'")).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only: DELETE refused/);
    await expect(db.query('TRUNCATE audit_events')).rejects.toThrow(/append-only: TRUNCATE refused/);
  });

  it('names the first row changed by hand, and the row after one removed', async () => {
    const db = await setup();
    const { rows } = await db.query<{ seq: number; event_id: string }>('SELECT seq, event_id FROM audit_events ORDER BY seq');
    await tamper(db, `UPDATE audit_events SET payload = jsonb_set(payload, '{request,httpStatus}', '500') WHERE seq = $1`, [rows[6]!.seq]);
    expect(await verifyChain(db)).toMatchObject({ ok: false, seq: Number(rows[6]!.seq), eventId: rows[6]!.event_id, problem: expect.stringContaining('does not match its hash') });

    await tamper(db, `UPDATE audit_events SET payload = jsonb_set(payload, '{request,httpStatus}', '200') WHERE seq = $1`, [rows[6]!.seq]);
    expect(await verifyChain(db)).toMatchObject({ ok: true });
    await tamper(db, 'DELETE FROM audit_events WHERE seq = $1', [rows[3]!.seq]);
    expect(await verifyChain(db)).toMatchObject({ ok: false, seq: Number(rows[4]!.seq), problem: expect.stringContaining('link to the row before is broken') });
  });

  it('exports the chain head signed with Ed25519', async () => {
    const db = await setup();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const head = (await signedHead(db, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())) as { log: string; seq: number; hash: string; at: string; signature: string };
    const verdict = await verifyChain(db);
    expect(verdict.ok && verdict.head.hash).toBe(head.hash);
    const statement = JSON.stringify({ log: head.log, seq: head.seq, hash: head.hash, at: head.at });
    expect(verify(null, Buffer.from(statement), publicKey, Buffer.from(head.signature, 'base64'))).toBe(true);
  });

  it('archives rows past retention to a file, recorded in the chain, and verify resumes after them', async () => {
    handle = await DATABASE_KINDS[kind]();
    const db = handle.db;
    await migrate(db, 'audit', auditMigrations, log);
    const old = events(4, 100).map((e) => ({ ...e, time: new Date(Date.now() - 90 * 86_400_000) }));
    await db.transaction((tx) => writeAuditEvents(tx, old));
    await db.transaction((tx) => writeAuditEvents(tx, events(3, 200)));
    expect(await verifyChain(db)).toMatchObject({ ok: true, rows: 7 });

    const dir = mkdtempSync(join(tmpdir(), 'gw-archive-'));
    const archived = await archiveOlderThan(db, new Date(Date.now() - 30 * 86_400_000), dir);
    expect(archived).toMatchObject({ rows: 4 });
    const text = readFileSync(archived!.file, 'utf8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(archived!.sha256);
    expect(text.trim().split('\n').map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(old.map((e) => e.requestId));

    const { rows } = await db.query<{ event_type: string }>('SELECT event_type FROM audit_events ORDER BY seq');
    expect(rows.map((r) => r.event_type)).toEqual(['request.completed', 'request.completed', 'request.completed', 'audit.archived']);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rows: 4 });
    expect(await archiveOlderThan(db, new Date(Date.now() - 30 * 86_400_000), dir)).toBeUndefined();
  });

  it('chains rows an older version wrote without hashes', async () => {
    const db = await setup();
    await tamper(db, 'UPDATE audit_events SET prev_hash = NULL, hash = NULL WHERE seq > (SELECT min(seq) + 4 FROM audit_events)');
    expect(await verifyChain(db)).toMatchObject({ ok: false });
    expect(await db.transaction((tx) => chainUnhashedRows(tx))).toBe(5);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rows: 10 });
  });
});
