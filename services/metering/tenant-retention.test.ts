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
import { SpendReader } from './spend.js';
import { SpendRetention } from './tenant-retention.js';
import { toolCallMigrations } from './tool-calls.js';
import { writeUsage } from './writer.js';
import { pastUsage } from '../../test/harness/records.js';

const log = createLogger({ level: 'silent' });
const keys = keysOf('a chain key of at least 32 characters, for tests');
const JANUARY = new Date('2024-01-20T10:00:00Z');
const BY_TEAM = { from: '', to: '', groupBy: ['team'], keyId: '', teamId: '', customerId: '', model: '', provider: '', tag: '' };

const usage = (requestId: string, teamId: string, at: Date) => pastUsage(requestId, teamId, at, 'acme');

const count = async (db: Database, sql: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`)).rows[0]!.n;

// Spend retention per team (docs/retention.md#spend-per-team-and-customer): set as the admin API sets it (audit's
// RetentionAdmin), learnt by metering through audit's LegalHolds answer (here its implementation), rows filed by it.
describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('spend retention per tenant on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function setUp() {
    handle = await DATABASE_KINDS[kind]();
    const db = handle.db;
    await migrate(db, 'metering', meteringMigrations, log);
    await migrate(db, 'metering_tools', toolCallMigrations, log);
    await migrate(db, 'audit', auditMigrations, log);
    await db.transaction((tx) => ensureKeyed(tx, keys));
    const settings = new RetentionAdmin(db, { toolArguments: 0 });
    const retention = new SpendRetention(db, () => settings.legalHolds());
    const published: Event[] = [];
    // The gateway's default keeps spend forever: only a tenant's own retention expires anything here.
    const maintain = () =>
      maintainLedgers(db, {
        retention: { retentionDays: 0, rollupRetentionDays: { hourly: 0, daily: 0 } },
        held: async () => (await settings.legalHolds()).held.length > 0,
        publish: (event) => published.push(event),
        log,
      });
    const spendOf = (teamId: string, days: number | null) =>
      settings.setRetention({ tenant: { scope: 'team', id: teamId }, classes: [{ dataClass: 'spend', days: days ?? undefined }] });
    const requestsOf = async (teamId: string) =>
      (await db.query<{ request_id: string }>('SELECT request_id FROM usage_records WHERE team_id = $1 ORDER BY 1', [teamId])).rows.map((r) => r.request_id);
    return { db, settings, retention, maintain, published, spendOf, requestsOf };
  }

  it("drops a month of a 1-month team's rows whole, keeps the default team's, and records the expiry", async () => {
    const { db, retention, maintain, published, spendOf, requestsOf } = await setUp();
    await spendOf('team_short', 30);
    await retention.refresh();
    // January 2024 has its months in both trees (made ahead in life; here the rows are written in the past).
    await db.query("SELECT metering_add_partition('usage_records', '2024-01-01'), metering_add_partition('usage_records_k30', '2024-01-01')");
    const write = (events: Event[]) => writeUsage(db, events, () => undefined, retention.keptDays);
    await write([usage('req_short_1', 'team_short', JANUARY), usage('req_short_2', 'team_short', JANUARY), usage('req_default', 'team_default', JANUARY)]);
    await write([usage('req_short_now', 'team_short', new Date()), usage('req_default_now', 'team_default', new Date())]);
    expect(await count(db, 'usage_records_k30_p202401')).toBe(2);
    expect(await count(db, 'usage_records_p202401')).toBe(1);
    const spendBefore = await new SpendReader(db).spend(BY_TEAM);

    await maintain();
    expect(await requestsOf('team_short')).toEqual(['req_short_now']);
    expect(await requestsOf('team_default')).toEqual(['req_default', 'req_default_now']);
    expect(await count(db, "pg_class WHERE relname = 'usage_records_k30_p202401'")).toBe(0);
    // The spend record outlives the rows: the rollups keep the month (they expire on their own retention).
    expect(await new SpendReader(db).spend(BY_TEAM)).toEqual(spendBefore);

    expect(published.map((e) => e.payload?.$case === 'ledgerExpired' && e.payload.ledgerExpired.expiries)).toEqual([
      [{ table: 'usage_records', partition: 'usage_records_k30_p202401', rows: 2, from: '2024-01-01T00:00:00.000Z', to: '2024-01-31T23:59:59.999Z' }],
    ]);
    await db.transaction((tx) => writeAuditEvents(tx, published, keys.current, 0));
    const reader = new AuditReader(db, undefined, undefined, () => verifyChain(db, { keys }));
    const page = await reader.query(AuditQuery.fromPartial({ limit: 0, eventType: 'ledger.expired' }));
    expect(page.records.map((r) => JSON.parse(r.payloadJson).ledgerExpired.expiries[0].partition)).toEqual(['usage_records_k30_p202401']);
    await maintain();
    expect(published).toHaveLength(1);
  });

  it("keeps a held team's rows past its retention until the hold is lifted", async () => {
    const { db, settings, retention, maintain, published, spendOf, requestsOf } = await setUp();
    await spendOf('team_legal', 30);
    await retention.refresh();
    await db.query("SELECT metering_add_partition('usage_records_k30', '2024-01-01')");
    await writeUsage(db, [usage('req_held', 'team_legal', JANUARY)], () => undefined, retention.keptDays);
    const hold = (held: boolean) => settings.setLegalHold({ tenant: { scope: 'team', id: 'team_legal' }, held, reason: 'case 2026-114', placedBy: 'ops' });

    await hold(true);
    await maintain();
    expect(await requestsOf('team_legal')).toEqual(['req_held']);
    expect(published).toEqual([]);
    await hold(false);
    await maintain();
    expect(await requestsOf('team_legal')).toEqual([]);
    expect(published).toHaveLength(1);
  });

  it('files a row under the retention its team had when it was written; a customer retention applies to teams without one', async () => {
    const { db, settings, retention, spendOf } = await setUp();
    await spendOf('team_a', 30);
    await settings.setRetention({ tenant: { scope: 'customer', id: 'acme' }, classes: [{ dataClass: 'spend', days: 2_555 }] });
    await retention.refresh();
    await writeUsage(db, [usage('req_a_before', 'team_a', new Date()), usage('req_b', 'team_b', new Date())], () => undefined, retention.keptDays);
    await spendOf('team_a', null);
    await retention.refresh();
    await writeUsage(db, [usage('req_a_after', 'team_a', new Date())], () => undefined, retention.keptDays);
    const filed = await db.query<{ request_id: string; kept_days: number | null }>('SELECT request_id, kept_days FROM usage_records ORDER BY 1');
    expect(filed.rows).toEqual([
      { request_id: 'req_a_after', kept_days: 2_555 },
      { request_id: 'req_a_before', kept_days: 30 },
      { request_id: 'req_b', kept_days: 2_555 },
    ]);
    // A request published again counts once, whatever retention it meets the second time.
    await writeUsage(db, [usage('req_a_before', 'team_a', new Date())], () => undefined, retention.keptDays);
    expect(await count(db, 'usage_records')).toBe(3);
  });

  it('writes nothing before audit has answered once', async () => {
    const { db } = await setUp();
    const unknown = new SpendRetention(db, async () => {
      throw new Error('audit is not answering');
    });
    await expect(unknown.refresh()).rejects.toThrow(/not answering/);
    await expect(writeUsage(db, [usage('req_1', 'team_a', new Date())], () => undefined, unknown.keptDays)).rejects.toThrow(/not known yet/);
    expect(await count(db, 'usage_records')).toBe(0);
  });
});
