import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { ensureKeyed, keysOf } from '../audit/keys.js';
import { auditMigrations } from '../audit/migrations.js';
import { AuditReader } from '../audit/query.js';
import { RetentionAdmin } from '../audit/retention-admin.js';
import { verifyChain } from '../audit/verify.js';
import { writeAuditEvents } from '../audit/writer.js';
import { AuditQuery } from '../gen/gateway/v1/audit.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import type { Event } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { meteringMigrations } from './migrations.js';
import { maintainLedgers } from './partitions.js';
import { toolCallMigrations } from './tool-calls.js';
import { writeUsage } from './writer.js';
import { pastUsage } from '../../test/harness/records.js';

const log = createLogger({ level: 'silent' });
const keys = keysOf('a chain key of at least 32 characters, for tests');
const DAY = 86_400_000;
const JANUARY = new Date('2024-01-20T10:00:00Z');
/** A retention that ends within February 2024: January's month, hours and days are past it. */
const retentionDays = () => Math.floor((Date.now() - Date.UTC(2024, 1, 1)) / DAY);

const usage = (requestId: string, teamId: string, at: Date) => pastUsage(requestId, teamId, at, 'acme');

// The audit service's tables share the database here only to hold the audit log the expiry is recorded in: metering
// learns of holds through the audit service's LegalHolds (here its implementation), never from the table.
describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('legal holds over the ledgers on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function setUp() {
    handle = await DATABASE_KINDS[kind]();
    const db = handle.db;
    await migrate(db, 'metering', meteringMigrations, log);
    await migrate(db, 'metering_tools', toolCallMigrations, log);
    await migrate(db, 'audit', auditMigrations, log);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    await db.query("SELECT metering_add_partition('usage_records', '2024-01-01')");
    await writeUsage(
      db,
      [usage('req_held', 'team_legal', JANUARY), usage('req_other', 'team_search', JANUARY), usage('req_now', 'team_search', new Date())],
      () => undefined,
    );
    const holds = new RetentionAdmin(db, { toolArguments: 0 });
    const published: Event[] = [];
    const maintain = (held = async () => (await holds.legalHolds()).held.length > 0) =>
      maintainLedgers(db, {
        retention: { retentionDays: retentionDays(), rollupRetentionDays: { hourly: retentionDays(), daily: retentionDays() } },
        held,
        publish: (event) => published.push(event),
        log,
      });
    const exists = async (table: string) => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_class WHERE relname = $1', [table])).rows[0]!.n;
    const hold = (held: boolean) => holds.setLegalHold({ tenant: { scope: 'team', id: 'team_legal' }, held, reason: 'case 2026-114', placedBy: 'ops' });
    const kept = async () => ({
      months: await exists('usage_records_p202401'),
      requests: (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_records')).rows[0]!.n,
      hours: (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_rollup_hourly')).rows[0]!.n,
      days: (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_rollup_daily')).rows[0]!.n,
    });
    return { db, maintain, hold, published, kept, exists };
  }

  it("keeps a held team's old month and rollups; once the hold is lifted they go, recorded in the audit log", async () => {
    const { db, maintain, hold, published, kept } = await setUp();
    const everything = await kept();
    expect(everything).toEqual({ months: 1, requests: 3, hours: 3, days: 3 });

    await hold(true);
    await maintain();
    expect(await kept()).toEqual(everything);
    expect(published).toEqual([]);

    await hold(false);
    await maintain();
    expect(await kept()).toEqual({ months: 0, requests: 1, hours: 1, days: 1 });
    expect(published.map((e) => e.type)).toEqual(['ledger.expired']);
    const [event] = published;
    expect(event!.payload?.$case === 'ledgerExpired' && event!.payload.ledgerExpired.expiries).toEqual([
      { table: 'usage_records', partition: 'usage_records_p202401', rows: 2, from: '2024-01-01T00:00:00.000Z', to: '2024-01-31T23:59:59.999Z' },
      { table: 'usage_rollup_hourly', partition: '', rows: 2, from: '2024-01-20T10:00:00.000Z', to: '2024-01-20T10:00:00.000Z' },
      { table: 'usage_rollup_daily', partition: '', rows: 2, from: '2024-01-20T00:00:00.000Z', to: '2024-01-20T00:00:00.000Z' },
    ]);

    // The audit service records the published event as it records every event: a chained row an auditor reads.
    await db.transaction((tx) => writeAuditEvents(tx, published, keys.current, 0));
    const reader = new AuditReader(db, undefined, undefined, () => verifyChain(db, { keys }));
    const page = await reader.query(AuditQuery.fromPartial({ limit: 0, eventType: 'ledger.expired' }));
    expect(page.records.map((r) => [r.service, JSON.parse(r.payloadJson).ledgerExpired.expiries[0]])).toEqual([
      ['metering', { table: 'usage_records', partition: 'usage_records_p202401', rows: 2, from: '2024-01-01T00:00:00.000Z', to: '2024-01-31T23:59:59.999Z' }],
    ]);
    // Nothing left to expire: the next run publishes nothing.
    await maintain();
    expect(published).toHaveLength(1);
  });

  it('drops nothing while it cannot learn whether a hold is placed, and still makes the coming months', async () => {
    const { db, maintain, published, kept, exists } = await setUp();
    const everything = await kept();
    const next = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1));
    const ahead = `usage_records_p${next.getUTCFullYear()}${String(next.getUTCMonth() + 1).padStart(2, '0')}`;
    await db.query(`DROP TABLE ${ahead}`);
    await maintain(async () => {
      throw new Error('audit is not answering');
    });
    expect(await kept()).toEqual(everything);
    expect(published).toEqual([]);
    expect(await exists(ahead)).toBe(1);
  });
});
