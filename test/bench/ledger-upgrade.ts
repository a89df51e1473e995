/**
 * Metering migration 13 (usage ledger partitioned by spend retention) timed on a ledger filled at migration 12: the
 * rows, written in one INSERT ... SELECT over three months (2,000 keys, 200 teams), are counted and summed before and
 * after, and the parent's indexes are listed with the tree's they adopted (none is built).
 * In a database of its own on DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/postgres), dropped at the end.
 * Run: npm run bench:ledger-upgrade [-- rows] (default 1,000,000)
 */
import pg from 'pg';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import { migrate } from '../../services/kit/db/migrate.js';
import { createLogger } from '../../services/kit/log.js';
import { meteringMigrations } from '../../services/metering/migrations.js';
import { toolCallMigrations } from '../../services/metering/tool-calls.js';

const log = createLogger({ level: 'silent' });
const rows = Number(process.argv[2] ?? 1_000_000);
const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const admin = new pg.Client(server);
await admin.connect();
await admin.query('DROP DATABASE IF EXISTS upgrade_bench');
await admin.query('CREATE DATABASE upgrade_bench');
const url = new URL(server);
url.pathname = '/upgrade_bench';
const db = await connectPostgres(url.toString(), 2, log);
const cleanup = async () => {
  await db.close();
  await admin.query('DROP DATABASE upgrade_bench');
  await admin.end();
};
try {
  await migrate(
    db,
    'metering',
    meteringMigrations.filter((m) => m.version <= 12),
    log,
  );
  await migrate(db, 'metering_tools', toolCallMigrations, log);
  for (let m = 1; m <= 3; m++)
    await db.query("SELECT metering_add_partition('usage_records', (date_trunc('month', now()) - make_interval(months => $1))::date)", [m]);
  let t = Date.now();
  await db.query(
    `INSERT INTO usage_records (request_id, event_id, occurred_at, outcome, key_id, team_id, customer_id, endpoint, model, provider, provider_model, deployment,
       prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cache_hit, stream, http_status, duration_ms, cost_usd)
     SELECT 'req_' || i, gen_random_uuid(), now() - make_interval(secs => i * 7), 'completed', 'vk_' || (i % 2000), 'team_' || (i % 200), 'c_' || (i % 50),
       'chat.completions', 'm' || (i % 12), 'openai', 'gpt-4o-mini', '', 7, 3, 10, 0, 0, false, false, 200, 1, 0.000013
     FROM generate_series(1, $1) i`,
    [rows],
  );
  console.log(`${rows.toLocaleString('en')} rows written at migration 12 in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  await db.query('VACUUM ANALYZE usage_records');
  const before = (await db.query<{ n: string; c: string }>('SELECT count(*)::text AS n, sum(cost_usd)::text AS c FROM usage_records')).rows[0];
  t = Date.now();
  await migrate(db, 'metering', meteringMigrations, log);
  console.log(`migration 13 (ledger attached as the default retention's tree) in ${Date.now() - t} ms`);
  const after = (await db.query<{ n: string; c: string }>('SELECT count(*)::text AS n, sum(cost_usd)::text AS c FROM usage_records')).rows[0];
  console.log('rows and cost before', before, 'after', after);
  const idx = await db.query<{ parent: string; child: string }>(
    `SELECT p.relname AS parent, c.relname AS child FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname LIKE 'usage_records_%' AND p.relkind = 'I' AND c.relname LIKE 'usage_records_kdefault%' ORDER BY 1`,
  );
  console.log("parent indexes adopting the tree's:", idx.rows.map((r) => `${r.parent} <- ${r.child}`).join(', '));
} finally {
  await cleanup();
}
