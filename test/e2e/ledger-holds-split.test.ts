import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type PostgresDatabase } from '../../services/kit/db/postgres.js';
import { createLogger } from '../../services/kit/log.js';
import { writeUsage } from '../../services/metering/writer.js';
import { admin, migratedInfra, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';
import { firstLedgerExpiry, pastUsage } from '../harness/records.js';

const DAY = 86_400_000;
/** A retention that ends in March 2024: January's and February's months are past it. */
const RETENTION_DAYS = Math.floor((Date.now() - Date.UTC(2024, 2, 1)) / DAY);

const usage = (requestId: string, at: Date) => pastUsage(requestId, 'team-legal', at);

// Split mode: metering asks audit for legal holds over gRPC (mutual TLS) before its maintenance, which runs as it
// starts; its expiry reaches the audit log through NATS (docs/retention.md#legal-hold).
describe('legal holds over the usage ledger, between processes', () => {
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  let gateway: SplitGateway;
  let owner: PostgresDatabase;

  beforeAll(async () => {
    infra = await isolatedInfra();
    const config = await migratedInfra(infra);
    owner = await connectPostgres(infra.database.url, 1, createLogger({ level: 'silent' }));
    // Old months of traffic, written as the owner (the consumer writes only what arrives now), and a hold placed.
    await owner.query("SELECT metering_add_partition('usage_records', '2024-01-01'), metering_add_partition('usage_records', '2024-02-01')");
    await writeUsage(owner, [usage('req_january', new Date('2024-01-20T10:00:00Z')), usage('req_february', new Date('2024-02-20T10:00:00Z'))], () => undefined);
    await owner.query("INSERT INTO legal_holds (scope, scope_id, reason, placed_by) VALUES ('team', 'team-legal', 'case 2026-114', 'ops')");
    gateway = await startSplit({ ...config, routing: { providers: { mock: { type: 'mock' } } }, metering: { retentionDays: RETENTION_DAYS } });
  });
  afterAll(async () => {
    await gateway?.stop();
    await owner?.close();
    await infra?.drop();
  });

  const months = async () =>
    (
      await owner.query<{ name: string }>("SELECT relname AS name FROM pg_class WHERE relname IN ('usage_records_p202401', 'usage_records_p202402') ORDER BY 1")
    ).rows.map((r) => r.name);
  const said = (line: string) => eventually(`metering to log "${line}"`, async () => (gateway.processes.metering.output().includes(line) ? true : undefined));

  it('keeps the held months; with audit unreachable drops nothing; once the hold is lifted drops them, recorded in the audit log', async () => {
    await said('a legal hold is placed');
    expect(await months()).toEqual(['usage_records_p202401', 'usage_records_p202402']);

    // The hold lifted, but audit not answering: metering cannot rule a hold out, so it keeps everything.
    await admin(gateway.adminUrl, 'DELETE', '/admin/legal-holds/teams/team-legal');
    await gateway.processes.audit.kill('SIGKILL');
    await gateway.restart('metering');
    await said('cannot learn whether a legal hold is placed');
    expect(await months()).toEqual(['usage_records_p202401', 'usage_records_p202402']);

    await gateway.restart('audit');
    await gateway.restart('metering');
    const row = await firstLedgerExpiry(gateway.adminUrl);
    expect(row.service).toBe('metering');
    expect(row.payload.ledgerExpired!.expiries.filter((e) => e.table === 'usage_records').map((e) => [e.partition, e.rows])).toEqual([
      ['usage_records_p202401', 1],
      ['usage_records_p202402', 1],
    ]);
    expect(await months()).toEqual([]);
  });
});
