import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type PostgresDatabase } from '../../services/kit/db/postgres.js';
import { createLogger } from '../../services/kit/log.js';
import { writeUsage } from '../../services/metering/writer.js';
import { admin, migratedInfra, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';
import { firstLedgerExpiry, pastUsage } from '../harness/records.js';

const JANUARY = new Date('2024-01-20T10:00:00Z');

const usage = (requestId: string, teamId: string) => pastUsage(requestId, teamId, JANUARY);

// Spend retention per team between processes (docs/retention.md#spend-per-team-and-customer): set on the admin API,
// kept by audit, learnt by metering over gRPC as it starts, each row filed under it; a month of a 30-day team's rows
// dropped whole by metering's run while the default team's month (kept forever here) stays.
describe('spend retention per team, between processes', () => {
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  let gateway: SplitGateway;
  let owner: PostgresDatabase;

  beforeAll(async () => {
    infra = await isolatedInfra();
    const config = await migratedInfra(infra);
    owner = await connectPostgres(infra.database.url, 1, createLogger({ level: 'silent' }));
    // January's rows, written as the owner (the consumer writes only what arrives now) as metering files them: the
    // 30-day team's under 30 days, the other team's under the default.
    await owner.query("SELECT metering_add_retention(30), metering_add_partition('usage_records_k30', '2024-01-01')");
    await owner.query("SELECT metering_add_partition('usage_records', '2024-01-01')");
    await writeUsage(
      owner,
      [usage('req_short_1', 'team-short'), usage('req_short_2', 'team-short')],
      () => undefined,
      () => 30,
    );
    await writeUsage(owner, [usage('req_default', 'team-default')], () => undefined);
    gateway = await startSplit({ ...config, routing: { providers: { mock: { type: 'mock' } } }, metering: { retentionDays: 0 } });
  });
  afterAll(async () => {
    await gateway?.stop();
    await owner?.close();
    await infra?.drop();
  });

  const januaryOf = async (teamId: string) =>
    (
      await owner.query<{ request_id: string }>("SELECT request_id FROM usage_records WHERE team_id = $1 AND occurred_at < '2024-02-01' ORDER BY 1", [teamId])
    ).rows.map((r) => r.request_id);

  it("drops the 30-day team's month whole, keeps the default team's, and records the expiry in the audit log", async () => {
    const row = await firstLedgerExpiry(gateway.adminUrl);
    expect(row.service).toBe('metering');
    expect(row.payload.ledgerExpired!.expiries.map((e) => [e.table, e.partition, e.rows])).toEqual([['usage_records', 'usage_records_k30_p202401', 2]]);
    expect(await januaryOf('team-short')).toEqual([]);
    expect(await januaryOf('team-default')).toEqual(['req_default']);
  });

  it("files a team's new rows under the spend retention set on the admin API", async () => {
    await admin(gateway.adminUrl, 'PUT', '/admin/retention/teams/team-new', { spend: 30 });
    // Metering learns it when it starts (and every 10 s after): restarted, it writes nothing before it has.
    await gateway.restart('metering');
    const { key } = await gateway.createKey({ name: 'short', team: 'team-new' });
    const response = await gateway
      .client(key)
      .chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    const requestId = response.response.headers.get('x-request-id')!;
    const filed = await eventually('the usage row', async () => {
      const { rows } = await owner.query<{ kept_days: number | null; partition: string }>(
        'SELECT kept_days, tableoid::regclass::text AS partition FROM usage_records WHERE request_id = $1',
        [requestId],
      );
      return rows[0];
    });
    const month = new Date().toISOString().slice(0, 7).replace('-', '');
    expect(filed).toEqual({ kept_days: 30, partition: `usage_records_k30_p${month}` });
  });
});
