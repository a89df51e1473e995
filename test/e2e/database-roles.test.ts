import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf } from '../../services/audit/keys.js';
import { expireMonths } from '../../services/audit/retention.js';
import { verifyChain } from '../../services/audit/verify.js';
import { writeAuditEvents } from '../../services/audit/writer.js';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import { EventType, requestEvent } from '../../services/kit/events.js';
import { createLogger } from '../../services/kit/log.js';
import { answered } from '../harness/events.js';
import { admin, runCli, startInProcess } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

// The database as an attacker holding one service's credentials sees it: each
// runtime role reaches its own service's tables and nothing else, and no running
// service signs in as the owner, who alone may change tables, roles or the log.

const ROUTING = { providers: { mock: { type: 'mock' } } };
// One key for every start here: each start has a data folder of its own, so a generated key would differ.
const AUDIT = { chainKey: 'a chain key for the database roles test, 32+ characters' };
const PASSWORDS = {
  governance: 'governance-pw',
  routing: 'routing-pw',
  caching: 'caching-pw',
  metering: 'metering-pw',
  auditWriter: 'audit-writer-pw',
  auditMaintainer: 'audit-maintainer-pw',
};
const PASSWORD_ENV = {
  GATEWAY_DATABASE__PASSWORDS__GOVERNANCE: PASSWORDS.governance,
  GATEWAY_DATABASE__PASSWORDS__ROUTING: PASSWORDS.routing,
  GATEWAY_DATABASE__PASSWORDS__CACHING: PASSWORDS.caching,
  GATEWAY_DATABASE__PASSWORDS__METERING: PASSWORDS.metering,
  GATEWAY_DATABASE__PASSWORDS__AUDIT_WRITER: PASSWORDS.auditWriter,
  GATEWAY_DATABASE__PASSWORDS__AUDIT_MAINTAINER: PASSWORDS.auditMaintainer,
};

/** Which runtime roles hold privileges on each table: exactly its own service's. */
const OWNERS: Record<string, string[]> = {
  virtual_keys: ['governance'],
  customers: ['governance'],
  teams: ['governance'],
  budgets: ['governance'],
  quota_windows: ['governance'],
  quota_leases: ['governance'],
  reservation_holders: ['governance'],
  routing_admin_entries: ['routing'],
  routing_responses: ['routing'],
  routing_files: ['routing'],
  routing_batches: ['routing'],
  routing_batch_lines: ['routing'],
  admin_sessions: ['governance'],
  cache_entries: ['caching'],
  cache_purges: ['caching'],
  usage_records: ['metering'],
  usage_rollup_hourly: ['metering'],
  usage_rollup_daily: ['metering'],
  tool_call_records: ['metering'],
  audit_events: ['audit_maintainer', 'audit_writer'],
  audit_archives: ['audit_maintainer', 'audit_writer'],
  audit_content: ['audit_maintainer', 'audit_writer'],
  audit_content_held: ['audit_maintainer', 'audit_writer'],
  retention_settings: ['audit_maintainer', 'audit_writer'],
  legal_holds: ['audit_maintainer', 'audit_writer'],
  dead_letters: ['audit_writer', 'metering'],
  dead_letter_tries: ['audit_writer', 'metering'],
  gateway_migrations: ['audit_maintainer', 'audit_writer', 'caching', 'governance', 'metering', 'routing'],
  // The owner's settings (the retention floor) are read by its functions only.
  gateway_settings: [],
};

/** The floor `gateway migrate` stores here: more than any month's age, so no runtime role may drop one. */
const FLOOR_DAYS = 36_500;

describe('database roles on PostgreSQL: no running service holds the owner', () => {
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  let owner: pg.Client;
  let dbName: string;
  const roles: Record<string, pg.Client> = {};
  /** database.url as a service holds it once migrate is off: the server and database, no user, no password. */
  let runtimeUrl: string;
  const connectAs = async (role: string) => {
    const url = new URL(infra.database.url);
    url.username = `${dbName}_${role}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    infra = await isolatedInfra();
    dbName = new URL(infra.database.url).pathname.slice(1);
    owner = new pg.Client({ connectionString: infra.database.url });
    await owner.connect();
    const url = new URL(infra.database.url);
    url.username = '';
    runtimeUrl = url.toString();
  });

  afterAll(async () => {
    for (const client of Object.values(roles)) await client.end();
    await owner?.end();
    await infra?.drop();
  });

  it('refuses to start with database.migrate off before `gateway migrate` ran, saying to run it', async () => {
    const started = startInProcess({ nats: infra.nats, database: { url: runtimeUrl, migrate: false }, routing: ROUTING, audit: AUDIT });
    await expect(started).rejects.toThrow(/`gateway migrate`/);
  });

  it('migrates every service as the owner with `gateway migrate`, and again without harm', async () => {
    for (let run = 0; run < 2; run++) {
      const { code, out } = await runCli(['migrate'], {
        GATEWAY_DATABASE__URL: infra.database.url,
        GATEWAY_DATABASE__RETENTION_FLOOR_DAYS: String(FLOOR_DAYS),
        GATEWAY_LOG__LEVEL: 'warn',
        ...PASSWORD_ENV,
      });
      expect(code, out).toBe(0);
      for (const service of ['governance', 'routing', 'caching', 'audit', 'metering']) expect(out).toContain(`${service}: migrated`);
    }
    const { rows } = await owner.query<{ rolname: string; scram: boolean }>(
      "SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname LIKE $1 ORDER BY rolname",
      [`${dbName}\\_%`],
    );
    expect(rows).toEqual(
      ['audit_maintainer', 'audit_writer', 'caching', 'governance', 'metering', 'routing'].map((r) => ({ rolname: `${dbName}_${r}`, scram: true })),
    );
    expect((await owner.query("SELECT value FROM gateway_settings WHERE name = 'retention_floor_days'")).rows).toEqual([{ value: String(FLOOR_DAYS) }]);
  });

  it('serves and records with every service signed in as its own role, never as the owner', async () => {
    const gateway = await startInProcess({
      nats: infra.nats,
      database: { url: runtimeUrl, migrate: false, passwords: PASSWORDS },
      routing: ROUTING,
      audit: AUDIT,
    });
    try {
      const { id, key } = await gateway.createKey({ name: 'roles' });
      // Stored by routing as its role, and applied once it hears of the change.
      await admin(gateway.adminUrl, 'PUT', '/admin/models/as-a-role', 'mock/echo');
      await eventually('the alias to be served', () =>
        gateway
          .client(key)
          .chat.completions.create({ model: 'as-a-role', messages: [{ role: 'user', content: 'as a role' }] })
          .catch(() => undefined),
      );
      await eventually('the usage row', async () => (await owner.query('SELECT 1 FROM usage_records WHERE key_id = $1', [id])).rowCount || undefined);
      await eventually(
        'the audit row',
        async () => (await owner.query("SELECT 1 FROM audit_events WHERE actor_key_id = $1 AND event_type = 'request.completed'", [id])).rowCount || undefined,
      );
      expect((await admin<{ data: unknown[] }>(gateway.adminUrl, 'GET', '/admin/audit/events?limit=5')).data.length).toBeGreaterThan(0);
      const { rows } = await owner.query<{ usename: string }>(
        'SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY usename',
        [dbName],
      );
      const runtimeRoles = ['audit_maintainer', 'audit_writer', 'caching', 'governance', 'metering', 'routing'].map((r) => `${dbName}_${r}`);
      expect(rows.map((r) => r.usename).filter((u) => !runtimeRoles.includes(u))).toEqual([]);
      expect(rows.map((r) => r.usename)).toEqual(
        expect.arrayContaining([`${dbName}_governance`, `${dbName}_routing`, `${dbName}_metering`, `${dbName}_audit_writer`]),
      );
    } finally {
      await gateway.stop();
    }
  });

  it("refuses each role every table that is not its service's, and any change to the schema", async () => {
    for (const role of ['governance', 'routing', 'caching', 'metering', 'audit_writer', 'audit_maintainer']) roles[role] = await connectAs(role);
    const denied = /permission denied/;
    await expect(roles.governance!.query('SELECT * FROM audit_events LIMIT 1')).rejects.toThrow(denied);
    await expect(
      roles.governance!.query(
        "INSERT INTO audit_events (event_id, event_type, occurred_at, service, schema_version, payload, prev_hash, hash) VALUES (gen_random_uuid(), 'x', now(), 'x', 1, '{}', 'x', 'x')",
      ),
    ).rejects.toThrow(denied);
    await expect(roles.governance!.query('DELETE FROM usage_records')).rejects.toThrow(denied);
    await expect(roles.caching!.query('SELECT key_hash FROM virtual_keys')).rejects.toThrow(denied);
    await expect(roles.caching!.query('SELECT * FROM usage_records')).rejects.toThrow(denied);
    // Metering appends the spend ledger and reads it; it may not rewrite it.
    expect((await roles.metering!.query('SELECT count(*)::int AS n FROM usage_records')).rows[0].n).toBeGreaterThan(0);
    await expect(roles.metering!.query('UPDATE usage_records SET cost_usd = 0')).rejects.toThrow(denied);
    // Its inserts fed the rollups through the owner's trigger; it may read them, never change them.
    expect((await roles.metering!.query('SELECT sum(requests)::int AS n FROM usage_rollup_daily')).rows[0].n).toBeGreaterThan(0);
    await expect(roles.metering!.query('UPDATE usage_rollup_daily SET cost_usd = 0')).rejects.toThrow(denied);
    await expect(roles.metering!.query('INSERT INTO usage_rollup_hourly SELECT * FROM usage_rollup_daily')).rejects.toThrow(denied);
    await expect(roles.metering!.query('DELETE FROM usage_records')).rejects.toThrow(denied);
    await expect(roles.metering!.query('TRUNCATE usage_records')).rejects.toThrow(denied);
    await expect(roles.metering!.query('UPDATE audit_events SET payload = $1', ['{}'])).rejects.toThrow(denied);
    // It keeps its ledgers' partitions through the one function granted, which takes numbers only; nothing else.
    const month = new Date().toISOString().slice(0, 7).replace('-', '');
    const kept = await roles.metering!.query('SELECT * FROM metering_maintain_partitions(3, 0)');
    expect(kept.rows).toEqual([]);
    await expect(roles.metering!.query(`DROP TABLE usage_records_p${month}`)).rejects.toThrow(/must be owner/);
    await expect(roles.metering!.query(`ALTER TABLE usage_records DETACH PARTITION usage_records_p${month}`)).rejects.toThrow(/must be owner/);
    await expect(roles.metering!.query(`SELECT * FROM usage_records_p${month}`)).rejects.toThrow(denied);
    await expect(roles.metering!.query("SELECT metering_add_partition('audit_events', '2024-01-01')")).rejects.toThrow(denied);
    await expect(roles.metering!.query('SELECT * FROM metering_maintain_partitions(3, -1)')).rejects.toThrow(/retention days/);
    for (const role of ['governance', 'routing', 'caching', 'audit_writer', 'audit_maintainer'])
      await expect(roles[role]!.query('SELECT * FROM metering_maintain_partitions(3, 1)'), role).rejects.toThrow(denied);
    await expect(roles.audit_writer!.query('SELECT * FROM virtual_keys')).rejects.toThrow(denied);
    // Below the owner's floor, neither role's function drops a month, whatever retention it names.
    await owner.query("SELECT metering_add_partition('usage_records', '2024-01-01'), audit_add_partition('audit_events', '2024-01-01')");
    expect((await roles.metering!.query('SELECT * FROM metering_maintain_partitions(3, 1)')).rows).toEqual([]);
    expect((await roles.audit_maintainer!.query('SELECT * FROM audit_maintain_partitions(1)')).rows).toEqual([]);
    // Nor do the rollups lose a day below it: their one function deletes by the floor too.
    expect((await roles.metering!.query('SELECT * FROM metering_expire_rollups(1, 1)')).rows).toEqual([]);
    expect((await roles.metering!.query('SELECT sum(requests)::int AS n FROM usage_rollup_hourly')).rows[0].n).toBeGreaterThan(0);
    await expect(roles.metering!.query('DELETE FROM usage_rollup_hourly')).rejects.toThrow(denied);
    await expect(roles.audit_maintainer!.query('SELECT * FROM metering_expire_rollups(1, 1)')).rejects.toThrow(denied);
    // Spend filed under a team's own retention (30 days): the metering role makes its tree (empty tables), and expires
    // it only by its own days, never below the floor; it cannot refile, delete or drop a row of it.
    await roles.metering!.query('SELECT metering_add_retention(30)');
    await owner.query(`SELECT metering_add_partition('usage_records_k30', '2024-01-01');
      CREATE TEMP TABLE filed AS SELECT * FROM usage_records LIMIT 1;
      UPDATE filed SET request_id = 'req-k30', occurred_at = '2024-01-20', kept_days = 30;
      INSERT INTO usage_records SELECT * FROM filed;`);
    expect((await roles.metering!.query('SELECT * FROM metering_expire_kept()')).rows).toEqual([]);
    expect((await owner.query('SELECT count(*)::int AS n FROM usage_records_k30_p202401')).rows[0].n).toBe(1);
    await expect(roles.metering!.query("UPDATE usage_records SET kept_days = 1 WHERE request_id = 'req-k30'")).rejects.toThrow(denied);
    await expect(roles.metering!.query('DROP TABLE usage_records_k30_p202401')).rejects.toThrow(/must be owner/);
    await expect(roles.metering!.query('SELECT * FROM usage_records_kdefault')).rejects.toThrow(denied);
    await expect(roles.metering!.query('SELECT metering_add_retention(-1)')).rejects.toThrow(/retention days/);
    await expect(roles.audit_maintainer!.query('SELECT * FROM metering_expire_kept()')).rejects.toThrow(denied);
    const left = await owner.query("SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('usage_records_p202401', 'audit_events_p202401')");
    expect(left.rows[0].n).toBe(2);
    // The audit log's months: the maintainer keeps them through its one function; no role drops, detaches or reads one.
    await expect(roles.audit_maintainer!.query('DROP TABLE audit_events_p202401')).rejects.toThrow(/must be owner/);
    await expect(roles.audit_maintainer!.query(`ALTER TABLE audit_events DETACH PARTITION audit_events_p${month}`)).rejects.toThrow(/must be owner/);
    await expect(roles.audit_maintainer!.query("SELECT audit_add_partition('audit_events', '2020-01-01')")).rejects.toThrow(denied);
    await expect(roles.audit_maintainer!.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    await expect(roles.audit_maintainer!.query("UPDATE gateway_settings SET value = '0'")).rejects.toThrow(denied);
    // Content kept beside the chain: no role deletes it, only the maintainer's function expires it, never below the
    // floor, even where the owner filed it under a month of expiry long past.
    await owner.query(`CREATE TABLE audit_content_e202401 (LIKE audit_content);
      ALTER TABLE audit_content ATTACH PARTITION audit_content_e202401 FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
      INSERT INTO audit_content VALUES (gen_random_uuid(), '2024-01-01', now(), 'team-1', '', 'toolArguments', '{}')`);
    expect((await roles.audit_maintainer!.query('SELECT * FROM audit_expire_content()')).rows).toEqual([]);
    expect((await owner.query('SELECT count(*)::int AS n FROM audit_content_e202401')).rows[0].n).toBe(1);
    for (const role of ['audit_writer', 'audit_maintainer']) {
      await expect(roles[role]!.query('DELETE FROM audit_content'), role).rejects.toThrow(denied);
      await expect(roles[role]!.query("UPDATE audit_content SET expires_on = '2024-01-01'"), role).rejects.toThrow(denied);
      await expect(roles[role]!.query('DROP TABLE audit_content_e202401'), role).rejects.toThrow(/must be owner/);
    }
    await expect(roles.audit_writer!.query('SELECT * FROM audit_expire_content()')).rejects.toThrow(denied);
    await expect(roles.audit_writer!.query('DELETE FROM legal_holds')).rejects.toThrow(denied);
    await expect(roles.audit_writer!.query("INSERT INTO retention_settings VALUES ('team', 'team-1', 'toolArguments', 1)")).rejects.toThrow(denied);
    await expect(roles.audit_maintainer!.query("SELECT audit_keep_content(1, '{}', '{}', '{}')")).rejects.toThrow(denied);
    for (const role of ['governance', 'routing', 'caching', 'metering'])
      await expect(roles[role]!.query('SELECT * FROM audit_content'), role).rejects.toThrow(denied);
    await expect(roles.audit_writer!.query('DELETE FROM audit_events')).rejects.toThrow(denied);
    await expect(roles.audit_writer!.query('DROP TABLE audit_events_p202401')).rejects.toThrow(/must be owner/);
    await expect(roles.audit_writer!.query(`SELECT * FROM audit_events_p${month}`)).rejects.toThrow(denied);
    for (const role of ['governance', 'routing', 'caching', 'metering', 'audit_writer']) {
      await expect(roles[role]!.query('SELECT * FROM audit_maintain_partitions(1)'), role).rejects.toThrow(denied);
      await expect(roles[role]!.query('SELECT audit_expiry_boundary(1)'), role).rejects.toThrow(denied);
    }
    // Routing reaches its admin-managed providers and models, and nothing of the others'; none of them reaches its.
    expect((await roles.routing!.query('SELECT count(*)::int AS n FROM routing_admin_entries')).rows[0].n).toBe(1);
    await expect(roles.routing!.query('SELECT key_hash FROM virtual_keys')).rejects.toThrow(denied);
    await expect(roles.routing!.query('SELECT * FROM cache_entries')).rejects.toThrow(denied);
    await expect(roles.routing!.query('SELECT * FROM usage_records')).rejects.toThrow(denied);
    await expect(roles.routing!.query('SELECT * FROM audit_events')).rejects.toThrow(denied);
    for (const role of ['governance', 'caching', 'metering', 'audit_writer', 'audit_maintainer']) {
      await expect(roles[role]!.query('SELECT * FROM routing_admin_entries'), role).rejects.toThrow(denied);
      await expect(roles[role]!.query("DELETE FROM routing_admin_entries WHERE kind = 'model'"), role).rejects.toThrow(denied);
    }
    for (const [role, client] of Object.entries(roles)) {
      await expect(client.query(`CREATE TABLE planted_by_${role} (x int)`), role).rejects.toThrow(/permission denied for schema/);
      await expect(client.query('ALTER TABLE gateway_migrations ADD COLUMN x int'), role).rejects.toThrow(/must be owner/);
      await expect(client.query("DELETE FROM gateway_migrations WHERE component = 'audit'"), role).rejects.toThrow(denied);
      await expect(client.query(`CREATE ROLE escalated_${role}`), role).rejects.toThrow(/permission denied to create role/);
      await expect(client.query('SET ROLE postgres'), role).rejects.toThrow(denied);
    }
    expect((await roles.governance!.query('SELECT count(*)::int AS n FROM virtual_keys')).rows[0].n).toBe(1);
  });

  it("grants every table to its own service's roles only (a partition to none), none of them the right to truncate, reference or add triggers", async () => {
    const { rows } = await owner.query<{ table: string; grantees: string[]; kinds: string[] }>(
      `SELECT t.tablename AS table,
              coalesce(array_agg(DISTINCT substr(g.grantee, length($1) + 2) ORDER BY substr(g.grantee, length($1) + 2)) FILTER (WHERE g.grantee IS NOT NULL), '{}') AS grantees,
              coalesce(array_agg(DISTINCT g.privilege_type::text) FILTER (WHERE g.grantee IS NOT NULL), '{}') AS kinds
         FROM pg_tables t LEFT JOIN information_schema.role_table_grants g ON g.table_name = t.tablename AND g.grantee LIKE $2
        WHERE t.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = t.tablename)
        GROUP BY t.tablename ORDER BY t.tablename`,
      [dbName, `${dbName}\\_%`],
    );
    expect(Object.fromEntries(rows.map((r) => [r.table, r.grantees]))).toEqual(OWNERS);
    const partitions = await owner.query<{ name: string }>(
      `SELECT DISTINCT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         JOIN information_schema.role_table_grants g ON g.table_name = c.relname AND g.grantee LIKE $1`,
      [`${dbName}\\_%`],
    );
    expect(partitions.rows).toEqual([]);
    for (const row of rows)
      expect(
        row.kinds.filter((k) => ['TRUNCATE', 'REFERENCES', 'TRIGGER'].includes(k)),
        row.table,
      ).toEqual([]);
  });

  it('expires a month of the audit log as the maintainer, past the floor: archived, dropped, and the chain still verifying', async () => {
    const as = (role: string) => {
      const url = new URL(infra.database.url);
      url.username = `${dbName}_${role}`;
      url.password = role === 'audit_writer' ? PASSWORDS.auditWriter : PASSWORDS.auditMaintainer;
      return connectPostgres(url.toString(), 2, createLogger({ level: 'silent' }));
    };
    const [writer, maintainer] = [await as('audit_writer'), await as('audit_maintainer')];
    try {
      const keys = keysOf(AUDIT.chainKey);
      // A row of January 2024 chained last (a spool replayed late): every row before it is archived with January.
      const late = {
        ...requestEvent(
          EventType.requestCompleted,
          { service: 'ingress', context: { requestId: 'req_late', traceId: '', actor: undefined, sourceAddress: '' } },
          answered(),
        ),
        time: new Date('2024-01-15T00:00:00Z'),
      };
      await writer.transaction((tx) => writeAuditEvents(tx, [late], keys.current));
      const days = Math.floor((Date.now() - Date.UTC(2024, 1, 1)) / 86_400_000);
      expect((await expireMonths(maintainer, days, mkdtempSync(join(tmpdir(), 'gw-roles-archive-')), keys.current)).partitions).toEqual([]);

      // As `gateway migrate` with a floor below it would store: the maintainer may now expire January.
      await owner.query("UPDATE gateway_settings SET value = '30' WHERE name = 'retention_floor_days'");
      const { archived, partitions } = await expireMonths(maintainer, days, mkdtempSync(join(tmpdir(), 'gw-roles-archive-')), keys.current);
      expect(partitions).toContainEqual({ action: 'dropped', name: 'audit_events_p202401' });
      expect(archived?.rows).toBeGreaterThan(1);
      const left = await owner.query<{ request_id: string; event_type: string }>('SELECT request_id, event_type FROM audit_events ORDER BY seq');
      expect(left.rows.map((r) => r.request_id)).not.toContain('req_late');
      expect(left.rows.at(-1)?.event_type).toBe('audit.archived');
      const verdict = await verifyChain(maintainer, { keys });
      expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: true, archives: 1, unchecked: [] });
    } finally {
      await owner.query(`UPDATE gateway_settings SET value = '${FLOOR_DAYS}' WHERE name = 'retention_floor_days'`);
      await Promise.all([writer.close(), maintainer.close()]);
    }
  });

  it('refuses to start on tables behind what this version needs, saying to run `gateway migrate`', async () => {
    const { rows } = await owner.query<{ version: number }>(
      "DELETE FROM gateway_migrations WHERE component = 'metering' AND version = (SELECT max(version) FROM gateway_migrations WHERE component = 'metering') RETURNING version",
    );
    try {
      const started = startInProcess({ nats: infra.nats, database: { url: runtimeUrl, migrate: false, passwords: PASSWORDS }, routing: ROUTING, audit: AUDIT });
      await expect(started).rejects.toThrow(
        new RegExp(`metering tables are at migration ${rows[0]!.version - 1}, this gateway needs ${rows[0]!.version}: run \`gateway migrate\``),
      );
    } finally {
      await owner.query("INSERT INTO gateway_migrations (component, version, description) VALUES ('metering', $1, 'restored')", [rows[0]!.version]);
    }
  });
});
