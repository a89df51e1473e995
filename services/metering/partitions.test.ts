import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { meteringMigrations } from './migrations.js';
import { SpendReader } from './spend.js';
import { toolCallMigrations } from './tool-calls.js';
import { writeUsage } from './writer.js';

const silent = createLogger({ level: 'silent' });
const DAY = 86_400_000;
const EVERYTHING = { from: '', to: '', groupBy: ['month'], keyId: '', teamId: '', customerId: '', model: '', provider: '', tag: '' };

const month = (at: Date) => `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
const monthsFromNow = (n: number) => new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + n, 15));

function usage(requestId: string, at: Date) {
  const event = requestEvent(
    EventType.requestCompleted,
    {
      service: 'ingress',
      context: { requestId, traceId: '', actor: { keyId: 'vk_1', keyName: 'k', teamId: 'team-1', customerId: '', admin: '' }, sourceAddress: '' },
    },
    {
      endpoint: 'chat.completions',
      model: 'openai/gpt-4o-mini',
      served: { provider: 'openai', model: 'gpt-4o-mini', deployment: '' },
      httpStatus: 200,
      usage: {
        promptTokens: 7,
        completionTokens: 3,
        totalTokens: 10,
        cachedTokens: 0,
        reasoningTokens: 0,
        cacheWriteTokens: 0,
        cacheWrite1hTokens: 0,
        billed: undefined,
      },
      stream: false,
      cacheHit: false,
      durationMs: 5,
      errorCode: '',
      errorMessage: '',
      attempts: [],
    },
  );
  return { ...event, time: at };
}

/** Rows as the version before partitioning wrote them: one per request, $0.000013 each. */
async function writeAsBefore(db: Database, rows: [requestId: string, at: Date][]) {
  for (const [id, at] of rows) {
    await db.query(
      `INSERT INTO usage_records (request_id, event_id, occurred_at, outcome, key_id, team_id, customer_id, endpoint, model, provider, provider_model, deployment,
         prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cache_hit, stream, http_status, duration_ms, cost_usd)
       VALUES ($1, gen_random_uuid(), $2, 'completed', 'vk_1', 'team-1', '', 'chat.completions', 'm', 'openai', 'gpt-4o-mini', '', 7, 3, 10, 0, 0, false, false, 200, 1, 0.000013)`,
      [id, at.toISOString()],
    );
    await db.query(
      `INSERT INTO tool_call_records (event_id, occurred_at, request_id, key_id, team_id, customer_id, server, tool, outcome, surface, result_bytes, duration_ms)
       VALUES (gen_random_uuid(), $1, $2, 'vk_1', 'team-1', '', 'files', 'read', 'ok', 'mcp', 10, 1)`,
      [at.toISOString(), id],
    );
  }
}

const partitionsOf = async (db: Database, table: string) =>
  (
    await db.query<{ name: string }>(
      'SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1',
      [table],
    )
  ).rows.map((r) => r.name);

const count = async (db: Database, table: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;

/** Requests and cost by month, read with SQL that holds for the ledger of every version (the spend reader reads the latest). */
const countByMonth = async (db: Database) =>
  Object.fromEntries(
    (
      await db.query<{ month: string; requests: number; cost: string }>(
        "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*)::int AS requests, COALESCE(SUM(cost_usd), 0)::text AS cost FROM usage_records GROUP BY 1",
      )
    ).rows.map((r) => [r.month, [r.requests, r.cost]]),
  );

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('usage ledger partitions on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function ledgers(upTo: { metering: number; tools: number }): Promise<Database> {
    handle = await DATABASE_KINDS[kind]();
    await migrateTo(handle.db, upTo);
    return handle.db;
  }
  async function migrateTo(db: Database, upTo: { metering: number; tools: number }) {
    await migrate(
      db,
      'metering',
      meteringMigrations.filter((m) => m.version <= upTo.metering),
      silent,
    );
    await migrate(
      db,
      'metering_tools',
      toolCallMigrations.filter((m) => m.version <= upTo.tools),
      silent,
    );
  }

  it('moves a ledger written by the previous version into monthly partitions, keeping every row and counting a request once', async () => {
    const db = await ledgers({ metering: 4, tools: 1 });
    const january = new Date('2024-01-20T10:00:00Z');
    await writeAsBefore(db, [
      ['req_jan', january],
      ['req_feb', new Date('2024-02-29T23:59:59.999Z')],
      ['req_now', new Date()],
    ]);
    const before = await countByMonth(db);
    await migrateTo(db, { metering: 99, tools: 99 });

    expect(await countByMonth(db)).toEqual(before);
    const spend = await new SpendReader(db).spend(EVERYTHING);
    expect(Object.fromEntries(spend.rows.map((r) => [r.group.month, [r.requests, r.costUsd]]))).toEqual(before);
    const months = [0, 1, 2, 3].map((n) => month(monthsFromNow(n)));
    for (const table of ['usage_records', 'tool_call_records']) {
      // The usage ledger's months sit under its default retention's tree (tenant-retention.ts), named as before.
      expect(await partitionsOf(db, table === 'usage_records' ? 'usage_records_kdefault' : table)).toEqual([
        `${table}_default`,
        `${table}_p202401`,
        `${table}_p202402`,
        ...months.map((m) => `${table}_p${m}`),
      ]);
      expect(await count(db, `${table}_default`)).toBe(0);
      expect(await count(db, table)).toBe(3);
    }
    // Redelivered (same event), and re-published an hour later under a new event: the request still counts once.
    const again = usage('req_jan', january);
    await writeUsage(db, [again, again, usage('req_jan', new Date(january.getTime() + 3_600_000))], () => undefined);
    await writeUsage(db, [again, usage('req_new', january)], () => undefined);
    expect((await db.query(`SELECT request_id FROM usage_records_p202401 ORDER BY 1`)).rows).toEqual([{ request_id: 'req_jan' }, { request_id: 'req_new' }]);
  });

  it('makes the coming months ahead, catches a row beyond them, and drops whole the months past retention', async () => {
    const db = await ledgers({ metering: 99, tools: 99 });
    const far = monthsFromNow(6);
    await writeUsage(
      db,
      [usage('req_old', new Date('2024-01-20T10:00:00Z')), usage('req_feb', new Date('2024-02-01T00:00:00Z')), usage('req_far', far)],
      () => undefined,
    );
    await writeUsage(db, [usage('req_stray', new Date('1999-12-31T00:00:00Z')), usage('req_now', new Date())], () => undefined);
    const where = async (id: string) =>
      (await db.query<{ part: string }>('SELECT tableoid::regclass::text AS part FROM usage_records WHERE request_id = $1', [id])).rows[0]?.part;
    // A time with no partition yet is kept in the default partition, and moves when its month is made.
    expect(await where('req_far')).toBe('usage_records_default');
    expect(await where('req_old')).toBe('usage_records_default');
    const made = await db.query<{ action: string; partition_name: string }>('SELECT * FROM metering_maintain_partitions(8, 0)');
    expect(made.rows.map((r) => r.partition_name)).toContain(`usage_records_p${month(far)}`);
    expect(await where('req_far')).toBe(`usage_records_p${month(far)}`);

    // Partitions for January and February 2024, then a retention ending within February: January goes whole.
    await db.query("SELECT metering_add_partition('usage_records', '2024-01-01'), metering_add_partition('usage_records', '2024-02-01')");
    const days = Math.floor((Date.now() - Date.UTC(2024, 1, 1)) / DAY);
    // The owner's floor, as `gateway migrate` stores database.retentionFloorDays, holds whatever retention metering names.
    const floor = (n: number) =>
      db.query("INSERT INTO gateway_settings (name, value) VALUES ('retention_floor_days', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [
        String(n),
      ]);
    await floor(days + 31);
    expect((await db.query('SELECT * FROM metering_maintain_partitions(3, 1)')).rows).toEqual([]);
    expect(await where('req_old')).toBe('usage_records_p202401');
    await floor(days);
    const expired = await db.query('SELECT action, partition_name, rows::int FROM metering_maintain_partitions(3, $1)', [days]);
    expect(expired.rows).toEqual([{ action: 'dropped', partition_name: 'usage_records_p202401', rows: 1 }]);
    const left = await db.query<{ request_id: string }>('SELECT request_id FROM usage_records ORDER BY 1');
    expect(left.rows.map((r) => r.request_id)).toEqual(['req_far', 'req_feb', 'req_now']);
    expect(await partitionsOf(db, 'usage_records')).not.toContain('usage_records_p202401');
    await expect(db.query('SELECT * FROM metering_maintain_partitions(3, -1)')).rejects.toThrow(/retention days/);
  });
});
