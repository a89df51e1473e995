import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { governanceDatabase, governanceMigrations } from '../../services/governance/migrations.js';
import { migrate } from '../../services/kit/db/migrate.js';
import { applyPlan } from '../../services/kit/db/plan.js';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import type { Database } from '../../services/kit/db/types.js';
import { createLogger } from '../../services/kit/log.js';
import { routingDatabase } from '../../services/routing/migrations.js';
import { admin, migratedInfra, startInProcess } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

const log = createLogger({ level: 'silent' });
const STORED_AT = '2024-05-06T07:08:09.000Z';

/** What a gateway before routing had tables of its own left: governance's tables, with admin-managed entries in routing_entries. */
async function previousVersionWith(owner: Database): Promise<void> {
  await migrate(
    owner,
    'governance',
    governanceMigrations.filter((m) => m.version <= 8),
    log,
  );
  await owner.query(
    `INSERT INTO routing_entries (id, kind, name, entry, updated_at) VALUES
       ('provider:legacy', 'provider', 'legacy', '{"type": "mock"}', $1),
       ('model:legacy-group', 'model', 'legacy-group', '{"deployments": [{"provider": "legacy", "model": "echo"}]}', $1),
       ('model:old-name', 'model', 'old-name', '"legacy-group"', $1),
       ('mcp:calc', 'mcp', 'calc', '{"pins": {"add": "a1b2"}}', $1)`,
    [STORED_AT],
  );
}

const movedRows = async (owner: Database) => ({
  governance: (await owner.query<{ table: string | null }>("SELECT to_regclass('routing_entries')::text AS table")).rows[0]!.table,
  routing: (await owner.query<{ kind: string; name: string }>('SELECT kind, name FROM routing_admin_entries ORDER BY kind, name')).rows,
});

const EVERY_ENTRY = [
  { kind: 'mcp', name: 'calc' },
  { kind: 'model', name: 'legacy-group' },
  { kind: 'model', name: 'old-name' },
  { kind: 'provider', name: 'legacy' },
];

// Providers, models and MCP approvals were governance's before routing kept them: an upgrade moves them, whichever
// service migrates first, and routing serves them as before.
describe('admin-managed routing entries stored before the upgrade', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });
  const databaseAsBefore = async () => {
    const infra = await isolatedInfra();
    cleanup.push(infra.drop);
    const owner = await connectPostgres(infra.database.url, 1, log);
    cleanup.push(() => owner.close());
    await previousVersionWith(owner);
    return { infra, owner };
  };

  describe('after `gateway migrate`, which migrates governance before routing', () => {
    let gateway: Awaited<ReturnType<typeof startInProcess>>;
    let owner: Database;

    beforeAll(async () => {
      const before = await databaseAsBefore();
      owner = before.owner;
      gateway = await startInProcess(await migratedInfra(before.infra));
      cleanup.push(() => gateway.stop());
    });

    it("has moved every entry to routing and dropped governance's table", async () => {
      expect(await movedRows(owner)).toEqual({ governance: null, routing: EVERY_ENTRY });
    });

    it('lists them through the admin API as they were stored', async () => {
      const providers = await admin<{ data: unknown[] }>(gateway.adminUrl, 'GET', '/admin/providers');
      expect(providers.data).toEqual([{ name: 'legacy', entry: { type: 'mock' }, updated_at: STORED_AT }]);
      const models = await admin<{ data: unknown[] }>(gateway.adminUrl, 'GET', '/admin/models');
      expect(models.data).toEqual([
        { name: 'legacy-group', entry: { deployments: [{ provider: 'legacy', model: 'echo' }] }, updated_at: STORED_AT },
        { name: 'old-name', entry: 'legacy-group', updated_at: STORED_AT },
      ]);
    });

    it('serves requests to them', async () => {
      const client = gateway.client((await gateway.createKey({ name: 'upgraded' })).key);
      const { response } = await eventually('the old alias to be served', () =>
        client.chat.completions
          .create({ model: 'old-name', messages: [{ role: 'user', content: 'still here' }] })
          .withResponse()
          .catch(() => undefined),
      );
      expect(response.headers.get('x-gateway-provider')).toBe('legacy');
    });
  });

  it('moves them as well when routing migrates first (its process started before governance)', async () => {
    const { owner } = await databaseAsBefore();
    await applyPlan(owner, routingDatabase, {}, log);
    await applyPlan(owner, governanceDatabase, {}, log);
    expect(await movedRows(owner)).toEqual({ governance: null, routing: EVERY_ENTRY });
  });
});
