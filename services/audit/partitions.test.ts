import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { answered } from '../../test/harness/events.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { eventually } from '../../test/harness/infra.js';
import { chainHead, chainUnhashedRows, lockChain } from './chain.js';
import { signCheckpoint } from './checkpoints.js';
import { ensureKeyed, keysOf } from './keys.js';
import { auditMigrations } from './migrations.js';
import { expireMonths } from './retention.js';
import { verifyChain } from './verify.js';
import { appendToChain, writeAuditEvents } from './writer.js';

const log = createLogger({ level: 'silent' });
const keys = keysOf('a chain key of at least 32 characters, for tests');
const DAY = 86_400_000;

const event = (requestId: string, at: Date) => ({
  ...requestEvent(
    EventType.requestCompleted,
    { service: 'ingress', context: { requestId, traceId: '', actor: undefined, sourceAddress: '10.0.0.9' } },
    answered({ model: 'mock/echo' }),
  ),
  time: at,
});

const month = (at: Date) => `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
const monthsFromNow = (n: number) => new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + n, 15));
/** Retention days after which every month before `first` has expired, and `first` has not. */
const keepingFrom = (first: Date) => Math.floor((Date.now() - first.getTime()) / DAY);

const partitionsOf = async (db: Database) =>
  (
    await db.query<{ name: string }>(
      "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1",
    )
  ).rows.map((r) => r.name);
/** As `gateway migrate` stores database.retentionFloorDays (kit/db/plan.ts). */
const setFloor = (db: Database, days: number) =>
  db.query("INSERT INTO gateway_settings (name, value) VALUES ('retention_floor_days', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [
    String(days),
  ]);
const requestIds = async (db: Database) =>
  (await db.query<{ request_id: string }>("SELECT request_id FROM audit_events WHERE event_type = 'request.completed' ORDER BY seq")).rows.map(
    (r) => r.request_id,
  );

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('audit log partitions on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function auditLog(upTo: number): Promise<Database> {
    handle = await DATABASE_KINDS[kind]();
    await migrate(
      handle.db,
      'audit',
      auditMigrations.filter((m) => m.version <= upTo),
      log,
    );
    return handle.db;
  }
  const write = (db: Database, batch: ReturnType<typeof event>[]) => db.transaction((tx) => writeAuditEvents(tx, batch, keys.current));

  it('moves a log written by the previous version into monthly partitions, every row kept and the chain verifying', async () => {
    const db = await auditLog(3);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    await write(db, [event('req_jan', new Date('2024-01-20T10:00:00Z')), event('req_feb', new Date('2024-02-29T23:59:59.999Z'))]);
    await write(db, [event('req_now', new Date()), event('req_jan_late', new Date('2024-01-31T12:00:00Z'))]);
    const before = await verifyChain(db, { keys });
    expect(before).toMatchObject({ ok: true, rows: 5 });
    const checkpoint = signCheckpoint(keys.current, await chainHead(db), new Date());

    await migrate(db, 'audit', auditMigrations, log);
    expect(await partitionsOf(db)).toEqual([
      'audit_events_default',
      'audit_events_p202401',
      'audit_events_p202402',
      ...[0, 1, 2, 3].map((n) => `audit_events_p${month(monthsFromNow(n))}`),
    ]);
    expect((await db.query('SELECT count(*)::int AS n FROM audit_events_default')).rows[0]).toEqual({ n: 0 });
    expect((await db.query('SELECT count(*)::int AS n FROM audit_events_p202401')).rows[0]).toEqual({ n: 2 });
    expect(await requestIds(db)).toEqual(['req_jan', 'req_feb', 'req_now', 'req_jan_late']);
    expect(await verifyChain(db, { keys, checkpoints: [checkpoint] })).toMatchObject({ ok: true, rows: 5, checkpoints: 1, head: before.ok && before.head });

    // The chain goes on across partitions; a redelivered event is still left out, and the log still refuses changes.
    const next = event('req_after', new Date());
    await write(db, [next]);
    await write(db, [next]);
    expect(await verifyChain(db, { keys, checkpoints: [checkpoint] })).toMatchObject({ ok: true, rows: 6 });
    await expect(db.query("UPDATE audit_events SET request_id = 'x' WHERE request_id = 'req_jan'")).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    await expect(db.query('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
  });

  it('chains the rows of a log older than the chain once it is partitioned', async () => {
    const db = await auditLog(1);
    for (const id of ['req_a', 'req_b']) {
      const e = event(id, new Date('2024-03-03T00:00:00Z'));
      await db.query(
        'INSERT INTO audit_events (event_id, event_type, occurred_at, request_id, service, schema_version, payload) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [e.id, e.type, e.time, e.requestId, e.service, e.schemaVersion, { request: { endpoint: 'chat.completions' } }],
      );
    }
    await migrate(db, 'audit', auditMigrations, log);
    expect(await db.transaction((tx) => chainUnhashedRows(tx))).toBe(2);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 3 });
  });

  it('expires months whole once archived with their checkpoint, and verify resumes from it when the file is elsewhere', async () => {
    const db = await auditLog(99);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    await db.query("SELECT audit_add_partition('audit_events', '2024-01-01'), audit_add_partition('audit_events', '2024-02-01')");
    // A February row chained before the last January one (a batch across the month's end) is archived with January
    // but stays in February, within retention.
    await write(db, [event('req_jan', new Date('2024-01-10T00:00:00Z')), event('req_feb_early', new Date('2024-02-01T00:00:01Z'))]);
    await write(db, [event('req_jan_late', new Date('2024-01-31T23:59:59Z')), event('req_feb', new Date('2024-02-10T00:00:00Z'))]);
    await write(db, [event('req_now', new Date())]);
    const seen = signCheckpoint(keys.current, await chainHead(db), new Date()); // row 5, req_feb
    const dir = mkdtempSync(join(tmpdir(), 'gw-audit-expiry-'));
    const days = keepingFrom(new Date('2024-02-01T00:00:00Z'));

    const { archived, partitions } = await expireMonths(db, days, dir, keys.current);
    expect(partitions).toEqual([{ action: 'dropped', name: 'audit_events_p202401' }]);
    expect(archived).toMatchObject({ rows: 4, firstSeq: 1, upToSeq: 4 }); // the chain_keyed row, req_jan, req_feb_early, req_jan_late
    expect(await partitionsOf(db)).not.toContain('audit_events_p202401');
    expect(await requestIds(db)).toEqual(['req_feb_early', 'req_feb', 'req_now']);
    const lines = readFileSync(archived!.file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(['', 'req_jan', 'req_feb_early', 'req_jan_late']);
    expect(JSON.parse(readFileSync(`${archived!.file}.checkpoint.json`, 'utf8'))).toEqual(archived!.checkpoint);
    const { rows: recorded } = await db.query<{ payload: { archived: { droppedPartitions: string[]; upToSeq: number } } }>(
      "SELECT payload FROM audit_events WHERE event_type = 'audit.archived'",
    );
    expect(recorded.map((r) => r.payload.archived)).toMatchObject([{ upToSeq: 4, droppedPartitions: ['audit_events_p202401'] }]);
    expect(await verifyChain(db, { keys, checkpoints: [seen] })).toMatchObject({ ok: true, rows: 7, archives: 1, unchecked: [] });

    // The file kept elsewhere: verified from the archive's checkpoint on, the range said; a checkpoint inside it is not held against the log.
    renameSync(archived!.file, `${archived!.file}.moved`);
    const early = signCheckpoint(keys.current, { seq: 2, hash: JSON.parse(lines[1]!).hash as string }, new Date());
    expect(await verifyChain(db, { keys, checkpoints: [early, seen] })).toMatchObject({
      ok: true,
      rows: 3,
      unchecked: [{ firstSeq: 1, upToSeq: 4, rows: 4, file: archived!.file }],
    });
    expect(await verifyChain(db, { keys, archiveDir: '/nonexistent' })).toMatchObject({ ok: true, unchecked: [{ upToSeq: 4 }] });
    // An archive's checkpoint not signed with the chain key is refused.
    await db.query("UPDATE audit_archives SET checkpoint = jsonb_set(checkpoint, '{mac}', '\"00\"')");
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: false, seq: 4, problem: expect.stringContaining('checkpoint cannot be trusted') });
    renameSync(`${archived!.file}.moved`, archived!.file);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 7, unchecked: [] });
    expect((await expireMonths(db, days, dir, keys.current)).archived).toBeUndefined();
    expect(existsSync(dir)).toBe(true);
  });

  // PGlite has one connection: no writer can chain while the expiry waits for the lock.
  it.skipIf(kind === 'pglite')('adds to the archive the rows chained while it was written, before the lock was taken', async () => {
    const db = await auditLog(99);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    await db.query("SELECT audit_add_partition('audit_events', '2024-01-01')");
    await write(db, [event('req_jan', new Date('2024-01-10T00:00:00Z')), event('req_now', new Date())]);
    const dir = mkdtempSync(join(tmpdir(), 'gw-audit-race-'));
    let expiry: ReturnType<typeof expireMonths> | undefined;
    // A writer holds the chain while the expiry exports, and chains a late January row once the expiry waits for it.
    await db.transaction(async (tx) => {
      await lockChain(tx);
      expiry = expireMonths(db, keepingFrom(new Date('2024-02-01T00:00:00Z')), dir, keys.current);
      await eventually('the expiry to wait for the chain', async () =>
        (
          await tx.query(
            "SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND locktype = 'advisory' AND NOT granted",
          )
        ).rowCount
          ? true
          : undefined,
      );
      await appendToChain(tx, [event('req_jan_late', new Date('2024-01-31T00:00:00Z'))], keys.current);
    });
    const { archived, partitions } = await expiry!;
    expect(archived).toMatchObject({ rows: 4, upToSeq: 4 }); // the chain_keyed row, req_jan, req_now, req_jan_late
    expect(partitions).toEqual([{ action: 'dropped', name: 'audit_events_p202401' }]);
    expect(readdirSync(dir).sort()).toEqual(['audit-1-4.ndjson', 'audit-1-4.ndjson.checkpoint.json']);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 5, archives: 1 });
  });

  it('drops no month an archive does not cover, nor one younger than the owner\u2019s floor', async () => {
    const db = await auditLog(99);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    await db.query("SELECT audit_add_partition('audit_events', '2024-01-01'), audit_add_partition('audit_events', '2024-02-01')");
    await write(db, [event('req_jan', new Date('2024-01-10T00:00:00Z')), event('req_now', new Date())]);
    const days = keepingFrom(new Date('2024-03-01T00:00:00Z'));
    // Called without archiving first: the empty February goes, January and its row stay.
    const { rows } = await db.query('SELECT action, partition_name FROM audit_maintain_partitions($1)', [days]);
    expect(rows).toEqual([{ action: 'dropped', partition_name: 'audit_events_p202402' }]);
    await expect(db.query('SELECT * FROM audit_maintain_partitions(-1)')).rejects.toThrow(/retention days/);

    // The owner's floor (what gateway migrate stores) keeps January, whatever retention the maintainer names.
    await setFloor(db, days + 400);
    const dir = mkdtempSync(join(tmpdir(), 'gw-audit-floor-'));
    expect(await expireMonths(db, days, dir, keys.current)).toEqual({ partitions: [] });
    expect(await requestIds(db)).toEqual(['req_jan', 'req_now']);
    // Nor may an archive record slipped in by hand let a row younger than the floor be deleted.
    await db.query("INSERT INTO audit_archives (up_to_seq, last_hash, rows, file, file_sha256) VALUES (1000, 'x', 1, 'x', 'x')");
    await expect(db.query("DELETE FROM audit_events WHERE request_id = 'req_jan'")).rejects.toThrow(/append-only/);

    await setFloor(db, 0);
    await db.query('DELETE FROM audit_archives');
    const { archived, partitions } = await expireMonths(db, days, dir, keys.current);
    expect(partitions).toEqual([{ action: 'dropped', name: 'audit_events_p202401' }]);
    expect(archived).toMatchObject({ rows: 2 });
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 4, archives: 1 });
  });
});
