/**
 * The usage ledger filled, then measured: rows written through the metering
 * writer's own statement in its batches (500, under its lock), spread over
 * three months, 2,000 keys (--keys) calling one model each, 200 teams, 50 customers and 12 models; then
 *
 * - bytes on disk per row and per million rows, heap and indexes, partitioned
 *   and in the layout before partitioning (the same rows copied to a plain table
 *   with its old key and indexes);
 * - the ingest rate with the spend rollups kept by their trigger and without (the trigger disabled);
 * - the admin API's spend reports over one month (SpendReader, as /admin/spend), from the rollups and from the rows;
 * - expiring the oldest month: its partition dropped by the metering role's
 *   function, against the old way, a DELETE from the plain table;
 * - then the audit log, filled with the same requests (records-audit.ts).
 *
 * In a database of its own on the server, dropped at the end.
 * Run: npm run bench:records [-- --rows 1000000 | --quick] [--audit-only | --usage-only] (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../../services/kit/db/migrate.js';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import { EventType, requestEvent } from '../../services/kit/events.js';
import { createLogger } from '../../services/kit/log.js';
import { Pricing } from '../../services/kit/pricing/index.js';
import { meteringMigrations } from '../../services/metering/migrations.js';
import { BACKFILL } from '../../services/metering/rollups.js';
import { SpendReader } from '../../services/metering/spend.js';
import { WRITE_LOCK, writeUsage } from '../../services/metering/writer.js';
import { benchAuditLog } from './records-audit.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    quick: { type: 'boolean' },
    'audit-only': { type: 'boolean' },
    'usage-only': { type: 'boolean' },
    keys: { type: 'string', default: '2000' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:records [-- --rows N | --quick] [--audit-only | --usage-only] [--keys 2000]   usage ledger and audit log: size, report and search time, expiry, over N rows (quick: 100,000)',
  );
  process.exit(0);
}
const ROWS = values.quick ? 100_000 : Number(values.rows);
/** Fewer keys make traffic denser per key and hour, as a busier gateway's (the rollups' rows follow keys, not requests). */
const KEYS = Number(values.keys);
const BATCH = 500;
const MONTHS = 3;
const MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'o3',
  'gpt-4.1',
  'claude-sonnet-4',
  'claude-haiku-3.5',
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'llama-3.3-70b',
  'mistral-large',
  'command-r',
  'deepseek-v3',
];
const log = createLogger({ level: 'silent' });
const pricing = new Pricing(Object.fromEntries(MODELS.map((m) => [`openai/${m}`, { input: 2.5, output: 10, cachedInput: 1.25 }])));

const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `records_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: server });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(server);
url.pathname = `/${name}`;
const db = await connectPostgres(url.toString(), 2, log);

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const now = new Date();
const monthStart = (back: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1));
const pick = <T>(list: T[], i: number) => list[i % list.length]!;

/** One request.completed as ingress emits it, at a time within the last MONTHS months (the oldest first). */
function event(i: number) {
  const span = now.getTime() - monthStart(MONTHS - 1).getTime();
  const at = new Date(monthStart(MONTHS - 1).getTime() + Math.floor((i / ROWS) * span));
  const key = (i * 7919) % KEYS;
  // A key is an application: it calls its model, not all twelve.
  const model = pick(MODELS, key);
  const prompt = 200 + ((i * 37) % 3000);
  const e = requestEvent(
    EventType.requestCompleted,
    {
      service: 'ingress',
      context: {
        requestId: `req_${i.toString(16).padStart(24, '0')}`,
        traceId: '',
        actor: { keyId: `vk_${key.toString(36).padStart(20, 'x')}`, keyName: '', teamId: `team-${key % 200}`, customerId: `cust-${key % 50}`, admin: '' },
        sourceAddress: '',
      },
    },
    {
      endpoint: 'chat.completions',
      model,
      served: { provider: 'openai', model, deployment: `openai-${(i % 3) + 1}` },
      httpStatus: 200,
      usage: {
        promptTokens: prompt,
        completionTokens: 150,
        totalTokens: prompt + 150,
        cachedTokens: i % 4 === 0 ? 128 : 0,
        reasoningTokens: 0,
        cacheWriteTokens: 0,
        cacheWrite1hTokens: 0,
        billed: undefined,
      },
      stream: i % 2 === 0,
      cacheHit: i % 20 === 0,
      durationMs: 300 + (i % 5000),
      errorCode: '',
      errorMessage: '',
      attempts: [],
    },
  );
  return { ...e, time: at };
}

/** Heap and index bytes of a table and its partitions (a partitioned table's own are 0). */
async function size(table: string) {
  const { rows } = await db.query<{ heap: string; indexes: string }>(
    `SELECT sum(pg_table_size(relid)) AS heap, sum(pg_indexes_size(relid)) AS indexes
       FROM (SELECT relid FROM pg_partition_tree($1) UNION SELECT $1::regclass) t`,
    [table],
  );
  return { heap: Number(rows[0]!.heap), indexes: Number(rows[0]!.indexes) };
}

async function benchUsageLedger() {
  await migrate(db, 'metering', meteringMigrations, log);
  for (let back = 1; back < MONTHS; back++) await db.query("SELECT metering_add_partition('usage_records', $1)", [monthStart(back).toISOString()]);

  const ingest = async (label: string) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ROWS; i += BATCH) {
      const events = Array.from({ length: Math.min(BATCH, ROWS - i) }, (_, j) => event(i + j));
      await db.transaction((tx) => writeUsage(tx, events, (o) => pricing.price(o.served, o.usage)), WRITE_LOCK);
    }
    const took = ms(start);
    console.log(
      `${ROWS.toLocaleString('en')} usage rows written ${label} in ${(took / 1000).toFixed(1)} s: ${Math.round(ROWS / (took / 1000)).toLocaleString('en')} rows/s (batches of ${BATCH}, under the writer's lock)`,
    );
  };
  // The same rows twice: without the rollups (their trigger disabled, as the ledger was before them), then with.
  await db.exec('ALTER TABLE usage_records DISABLE TRIGGER usage_rollups');
  await ingest('without rollups');
  await db.exec('TRUNCATE usage_records; ALTER TABLE usage_records ENABLE TRIGGER usage_rollups');
  await ingest('with rollups');
  await db.exec('VACUUM ANALYZE usage_records, usage_rollup_hourly, usage_rollup_daily');

  const widths = await db.query<Record<string, string>>(
    `SELECT avg(pg_column_size(u.*))::int AS row, avg(pg_column_size(model) + pg_column_size(provider) + pg_column_size(provider_model)
       + pg_column_size(deployment) + pg_column_size(endpoint) + pg_column_size(outcome))::int AS names,
       avg(pg_column_size(key_id) + pg_column_size(team_id) + pg_column_size(customer_id))::int AS actor,
       avg(pg_column_size(request_id) + pg_column_size(event_id))::int AS ids FROM usage_records u`,
  );
  const w = widths.rows[0]!;
  console.log(
    `row data: ${w.row} B a row on average; of it names (model, provider, deployment, endpoint, outcome) ${w.names} B, key/team/customer ids ${w.actor} B, request and event ids ${w.ids} B`,
  );

  // The layout before partitioning: the same rows, its primary key, unique event id and four indexes.
  await db.exec(`CREATE TABLE usage_plain (LIKE usage_records INCLUDING DEFAULTS);
    INSERT INTO usage_plain SELECT * FROM usage_records;
    ALTER TABLE usage_plain ADD PRIMARY KEY (request_id), ADD UNIQUE (event_id);
    CREATE INDEX ON usage_plain (occurred_at); CREATE INDEX ON usage_plain (key_id, occurred_at);
    CREATE INDEX ON usage_plain (team_id, occurred_at); CREATE INDEX ON usage_plain (customer_id, occurred_at)`);
  await db.exec('VACUUM ANALYZE usage_plain');
  for (const [label, table] of [
    ['partitioned (now)', 'usage_records'],
    ['plain (before)', 'usage_plain'],
  ] as const) {
    const s = await size(table);
    const perRow = (s.heap + s.indexes) / ROWS;
    console.log(
      `${label}: heap ${mb(s.heap)}, indexes ${mb(s.indexes)}; ${Math.round(s.heap / ROWS)} + ${Math.round(s.indexes / ROWS)} = ${Math.round(perRow)} B a row, ${mb(perRow * 1e6)} per million rows`,
    );
  }

  for (const table of ['usage_rollup_hourly', 'usage_rollup_daily']) {
    const s = await size(table);
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    console.log(`${table}: ${rows[0]!.n.toLocaleString('en')} rows, heap ${mb(s.heap)}, indexes ${mb(s.indexes)}`);
  }

  const reader = new SpendReader(db);
  const month = { from: monthStart(1).toISOString(), to: monthStart(0).toISOString() };
  const query = { ...month, groupBy: [] as string[], keyId: '', teamId: '', customerId: '', model: '', provider: '', tag: '' };
  const reports: [string, typeof query][] = [
    ['a month by team', { ...query, groupBy: ['team'] }],
    ['a month by model', { ...query, groupBy: ['model'] }],
    ['a month by day', { ...query, groupBy: ['day'] }],
    ["one key's month by day", { ...query, groupBy: ['day'], keyId: `vk_${(42).toString(36).padStart(20, 'x')}` }],
    ["one team's month by model", { ...query, groupBy: ['model'], teamId: 'team-7' }],
  ];
  const timed = async (report: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const start = process.hrtime.bigint();
      await report();
      times.push(ms(start));
    }
    return `${times.map((t) => t.toFixed(0)).join(' / ')} ms`;
  };
  for (const [label, q] of reports) {
    console.log(`spend report, ${label}: rollups ${await timed(() => reader.spend(q))}; rows ${await timed(() => reader.spendFromLedger(q))} (3 runs each)`);
  }
  // A month whose edges are not whole hours: the rollups' days and hours, and the rows of its first and last minutes.
  const ragged = {
    ...query,
    groupBy: ['team'],
    from: new Date(monthStart(1).getTime() + 1_234_567).toISOString(),
    to: new Date(monthStart(0).getTime() - 654_321).toISOString(),
  };
  console.log(
    `spend report, a month by team from and to a minute: rollups ${await timed(() => reader.spend(ragged))}; rows ${await timed(() => reader.spendFromLedger(ragged))}`,
  );

  // An upgrade's back-fill (metering migration 9) over the same rows: the rollups emptied and filled again.
  const everything = { ...query, from: '', to: '', groupBy: ['month'] };
  const before = await reader.spend(everything);
  await db.exec('TRUNCATE usage_rollup_hourly, usage_rollup_daily');
  const filling = process.hrtime.bigint();
  await db.exec(BACKFILL);
  const filled = ms(filling);
  const after = await reader.spend(everything);
  if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error('the back-filled rollups differ from those the trigger kept');
  console.log(
    `rollups back-filled from ${ROWS.toLocaleString('en')} rows (as an upgrade does) in ${(filled / 1000).toFixed(1)} s, the same as the trigger kept`,
  );

  const oldest = monthStart(MONTHS - 1);
  const days = Math.floor((now.getTime() - monthStart(MONTHS - 2).getTime()) / 86_400_000);
  let start = process.hrtime.bigint();
  const { rowCount } = await db.query('DELETE FROM usage_plain WHERE occurred_at < $1', [monthStart(MONTHS - 2).toISOString()]);
  const deleted = ms(start);
  start = process.hrtime.bigint();
  const dropped = await db.query<{ partition_name: string }>('SELECT partition_name FROM metering_maintain_partitions(3, $1)', [days]);
  const drop = ms(start);
  console.log(
    `expire ${oldest.toISOString().slice(0, 7)} (${rowCount.toLocaleString('en')} rows): DROP of ${dropped.rows.map((r) => r.partition_name).join(', ')} ${drop.toFixed(0)} ms; DELETE from the plain table ${deleted.toFixed(0)} ms, leaving ${mb((await size('usage_plain')).heap)} of heap to vacuum`,
  );
}

try {
  if (!values['audit-only']) await benchUsageLedger();
  if (!values['usage-only']) await benchAuditLog({ db, log, rows: ROWS, batch: BATCH, event, monthStart, months: MONTHS, size });
} finally {
  await db.close();
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
}
