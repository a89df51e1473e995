import { generateKeyPairSync, verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { chainKeyedEvent, EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainUnhashedRows, LOCK_CHAIN } from './chain.js';
import { signCheckpoint } from './checkpoints.js';
import { ensureKeyed, keysOf } from './keys.js';
import { expireMonths } from './retention.js';
import { auditMigrations } from './migrations.js';
import { signedHead, verifyChain } from './verify.js';
import { appendToChain, writeAuditEvents } from './writer.js';
import { answered } from '../../test/harness/events.js';

const log = createLogger({ level: 'silent' });

function events(n: number, from = 0) {
  return Array.from({ length: n }, (_, i) =>
    requestEvent(
      EventType.requestCompleted,
      { service: 'ingress', context: { requestId: `req_${from + i}`, traceId: '', actor: undefined, sourceAddress: '10.0.0.9' } },
      answered({ model: 'mock/echo', durationMs: 12.345678 + i }),
    ),
  );
}

const keys = keysOf('a chain key of at least 32 characters, for tests');

/** The tables' owner going around the gateway: it may switch the append-only trigger off. */
async function tamper(db: Database, sql: string, params: unknown[] = []): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    await tx.query(sql, params);
    await tx.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
  });
}

/** Rows as a gateway from before the hash chain wrote them: no hashes. */
async function writeUnhashed(db: Database, n: number): Promise<void> {
  for (const e of events(n, 900)) {
    await db.query(
      `INSERT INTO audit_events (event_id, event_type, occurred_at, request_id, service, source_address, schema_version, payload)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [e.id, e.type, e.time, e.requestId, e.service, e.sourceAddress, e.schemaVersion, { request: { endpoint: 'chat.completions' } }],
    );
  }
}

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('tamper-evident audit log on %s', (kind) => {
  let handle: Awaited<ReturnType<(typeof DATABASE_KINDS)['postgres']>> | undefined;
  afterEach(() => handle?.cleanup());

  async function setup(): Promise<Database> {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, 'audit', auditMigrations, log);
    await handle.db.transaction((tx) => ensureKeyed(tx, keys));
    const write = (batch: ReturnType<typeof events>) => handle!.db.transaction((tx) => writeAuditEvents(tx, batch, keys.current));
    const first = events(5);
    await write(first);
    await write([...first.slice(3), ...events(5, 5)]); // two redelivered, five new
    return handle.db;
  }

  it('chains every row once, keyed, and verify walks the chain to its head', async () => {
    const db = await setup();
    const verdict = await verifyChain(db, { keys });
    expect(verdict).toMatchObject({ ok: true, rows: 11 });
    const { rows } = await db.query<{ n: number }>('SELECT count(DISTINCT event_id)::int AS n FROM audit_events');
    expect(rows[0]!.n).toBe(11);
  });

  it('keeps one chain when writers that took the lock as their transaction opened write at once', async () => {
    const db = await setup();
    await Promise.all(Array.from({ length: 8 }, (_, i) => db.transaction((tx) => appendToChain(tx, events(4, 100 + i * 4), keys.current), LOCK_CHAIN)));
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 43 });
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
    expect(await verifyChain(db, { keys })).toMatchObject({
      ok: false,
      seq: Number(rows[6]!.seq),
      eventId: rows[6]!.event_id,
      problem: expect.stringContaining('does not match its hash'),
    });

    await tamper(db, `UPDATE audit_events SET payload = jsonb_set(payload, '{request,httpStatus}', '200') WHERE seq = $1`, [rows[6]!.seq]);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true });
    await tamper(db, 'DELETE FROM audit_events WHERE seq = $1', [rows[3]!.seq]);
    expect(await verifyChain(db, { keys })).toMatchObject({
      ok: false,
      seq: Number(rows[4]!.seq),
      problem: expect.stringContaining('link to the row before is broken'),
    });
  });

  it('checks the log against checkpoints: a forged one, a row rewritten after one, a log ending before one', async () => {
    const db = await setup();
    const { rows } = await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq');
    const at = new Date();
    const seen = signCheckpoint(keys.current, { seq: Number(rows[5]!.seq), hash: rows[5]!.hash }, at);
    expect(await verifyChain(db, { keys, checkpoints: [seen] })).toMatchObject({ ok: true, checkpoints: 1 });
    const forged = signCheckpoint(keysOf('not the chain key, but 32 characters long').current, { seq: 3, hash: 'f'.repeat(64) }, at);
    expect(await verifyChain(db, { keys, checkpoints: [{ ...forged, keyId: keys.current.id }] })).toMatchObject({
      ok: false,
      problem: expect.stringContaining('its signature does not match'),
    });
    const otherwise = signCheckpoint(keys.current, { seq: Number(rows[5]!.seq), hash: 'e'.repeat(64) }, at);
    expect(await verifyChain(db, { keys, checkpoints: [otherwise] })).toMatchObject({
      ok: false,
      seq: Number(rows[5]!.seq),
      problem: expect.stringContaining('the log was rewritten from here'),
    });
    const ahead = signCheckpoint(keys.current, { seq: Number(rows.at(-1)!.seq) + 5, hash: 'd'.repeat(64) }, at);
    expect(await verifyChain(db, { keys, checkpoints: [seen, ahead] })).toMatchObject({
      ok: false,
      problem: expect.stringContaining('rows were removed from its end'),
    });
  });

  it('exports the chain head signed with Ed25519', async () => {
    const db = await setup();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const head = (await signedHead(db, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())) as {
      log: string;
      seq: number;
      hash: string;
      at: string;
      signature: string;
    };
    const verdict = await verifyChain(db, { keys });
    expect(verdict.ok && verdict.head.hash).toBe(head.hash);
    const statement = JSON.stringify({ log: head.log, seq: head.seq, hash: head.hash, at: head.at });
    expect(verify(null, Buffer.from(statement), publicKey, Buffer.from(head.signature, 'base64'))).toBe(true);
  });

  it('archives rows past retention to a file, recorded in the chain, and verify walks the file too', async () => {
    handle = await DATABASE_KINDS[kind]();
    const db = handle.db;
    await migrate(db, 'audit', auditMigrations, log);
    const old = events(4, 100).map((e) => ({ ...e, time: new Date(Date.now() - 90 * 86_400_000) }));
    await db.transaction((tx) =>
      writeAuditEvents(
        tx,
        [{ ...chainKeyedEvent({ service: 'audit' }, { keyId: keys.current.id, algorithm: 'HMAC-SHA-256' }), time: old[0]!.time }, ...old],
        keys.current,
      ),
    );
    await db.transaction((tx) => writeAuditEvents(tx, events(3, 200), keys.current));
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 8 });

    const dir = mkdtempSync(join(tmpdir(), 'gw-archive-'));
    const { archived } = await expireMonths(db, 30, dir, keys.current);
    expect(archived).toMatchObject({ rows: 5 });
    const text = readFileSync(archived!.file, 'utf8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(archived!.sha256);
    expect(
      text
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => (JSON.parse(l) as { request_id: string }).request_id),
    ).toEqual(old.map((e) => e.requestId));

    const { rows } = await db.query<{ event_type: string }>('SELECT event_type FROM audit_events ORDER BY seq');
    expect(rows.map((r) => r.event_type)).toEqual(['request.completed', 'request.completed', 'request.completed', 'audit.archived']);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 9, archives: 1 });
    expect((await expireMonths(db, 30, dir, keys.current)).archived).toBeUndefined();

    // An archive record the chain does not vouch for is named, not trusted.
    await db.query('INSERT INTO audit_archives (up_to_seq, last_hash, rows, file, file_sha256) VALUES ($1, $2, 1, $3, $4)', [
      archived!.upToSeq + 2,
      'f'.repeat(64),
      archived!.file,
      archived!.sha256,
    ]);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: false, problem: expect.stringMatching(/^archive \d+/) });
    await db.query('DELETE FROM audit_archives WHERE up_to_seq = $1', [archived!.upToSeq + 2]);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true });

    // A changed archive file is named.
    writeFileSync(archived!.file, text.replace('req_101', 'req_999'));
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: false, seq: archived!.upToSeq, problem: expect.stringContaining('is not the file archived') });
  });

  it('keeps verifying the unkeyed rows of older versions, keyed from the row that says so', async () => {
    handle = await DATABASE_KINDS[kind]();
    const db = handle.db;
    await migrate(db, 'audit', auditMigrations.slice(0, 1), log);
    await writeUnhashed(db, 3); // before the hash chain
    await migrate(db, 'audit', auditMigrations.slice(0, 2), log);
    expect(await db.transaction((tx) => chainUnhashedRows(tx))).toBe(3); // as a version with the plain SHA-256 chain did
    await migrate(db, 'audit', auditMigrations, log);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: false, problem: expect.stringContaining('the log is not keyed') });
    expect(await db.transaction((tx) => ensureKeyed(tx, keys))).toBe(true);
    expect(await db.transaction((tx) => ensureKeyed(tx, keys))).toBe(false);
    await db.transaction((tx) => writeAuditEvents(tx, events(2), keys.current));
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 6 });

    // A new key chains a row naming it; verify then needs both.
    const rotated = keysOf('another chain key of at least 32 characters', 'a chain key of at least 32 characters, for tests');
    await expect(db.transaction((tx) => ensureKeyed(tx, keysOf('another chain key of at least 32 characters')))).rejects.toThrow(
      /list that key in audit.previousChainKeys/,
    );
    expect(await db.transaction((tx) => ensureKeyed(tx, rotated))).toBe(true);
    await db.transaction((tx) => writeAuditEvents(tx, events(2, 50), rotated.current));
    expect(await verifyChain(db, { keys: rotated })).toMatchObject({ ok: true, rows: 9 });
    expect(await verifyChain(db, { keys })).toMatchObject({
      ok: false,
      seq: expect.any(Number),
      problem: expect.stringContaining('which verify was not given'),
    });
  });
});
