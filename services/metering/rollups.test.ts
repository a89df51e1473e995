import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import type { SpendQuery } from '../gen/gateway/v1/metering.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent, type Event } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { Pricing } from '../kit/pricing/index.js';
import { meteringMigrations } from './migrations.js';
import { pieces } from './rollups.js';
import { SpendReader } from './spend.js';
import { writeUsage, type PriceOf } from './writer.js';

const silent = createLogger({ level: 'silent' });
const pricing = new Pricing({
  'openai/gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075 },
  'anthropic/claude': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75 },
});
const price: PriceOf = (o) => pricing.price(o.served, o.usage);
const SERVED = [
  { provider: 'openai', model: 'gpt-4o-mini', deployment: 'a' },
  { provider: 'anthropic', model: 'claude', deployment: 'b' },
  { provider: 'openai', model: 'unpriced', deployment: 'a' },
  { provider: 'openai', model: 'gpt-image', deployment: 'c' },
];
const START = Date.parse('2026-11-29T21:00:00Z');
const MINUTE = 60_000;
const ROWS = 600;

/** Request i of a traffic across 73 hours, a month's end, 7 keys of 3 teams, 4 models (one unpriced, one billed by image). */
function request(i: number, at = new Date(START + Math.floor(i * 7.3 * MINUTE) + (i % 13) * 1000)): Event {
  const key = i % 7;
  const served = SERVED[(i * 5) % 4]!;
  const prompt = 100 + ((i * 37) % 900);
  const event = requestEvent(
    i % 9 === 0 ? EventType.requestFailed : EventType.requestCompleted,
    {
      service: 'ingress',
      context: {
        requestId: `req_${i}`,
        traceId: '',
        actor: { keyId: `vk_${key}`, keyName: '', teamId: `team-${key % 3}`, customerId: key % 2 ? 'cust-1' : '', admin: '' },
        sourceAddress: '',
      },
    },
    {
      endpoint: served.model === 'gpt-image' ? 'images.generations' : 'chat.completions',
      model: served.model,
      served,
      httpStatus: i % 9 === 0 ? 502 : 200,
      usage: {
        promptTokens: prompt,
        completionTokens: i % 300,
        totalTokens: prompt + (i % 300),
        cachedTokens: i % 3 === 0 ? 64 : 0,
        reasoningTokens: i % 5,
        cacheWriteTokens: i % 4 === 0 ? 32 : 0,
        cacheWrite1hTokens: 0,
        billed: served.model === 'gpt-image' ? { unit: 'image', quantity: 1 + (i % 3), variant: '1024x1024' } : undefined,
      },
      stream: i % 2 === 0,
      cacheHit: i % 11 === 0,
      durationMs: 100 + i,
      errorCode: '',
      errorMessage: '',
      attempts: [],
      tags: i % 4 === 0 ? ['batch', `run-${i % 3}`] : [],
    },
  );
  return { ...event, time: at };
}

/** The traffic written in batches of 50, one batch delivered twice and its first requests re-published a minute later. */
async function writeTraffic(db: Database, ids: number[]) {
  for (let b = 0; b < ids.length; b += 50) {
    const batch = ids.slice(b, b + 50).map((i) => request(i));
    await writeUsage(db, batch, price);
    if (b === 100) {
      await writeUsage(db, batch, price);
      await writeUsage(
        db,
        batch.slice(0, 5).map((e, j) => request(ids[b + j]!, new Date(e.time!.getTime() + MINUTE))),
        price,
      );
    }
  }
}

const query = (q: Partial<SpendQuery>): SpendQuery => ({
  from: '',
  to: '',
  groupBy: [],
  keyId: '',
  teamId: '',
  customerId: '',
  model: '',
  provider: '',
  tag: '',
  ...q,
});

const RANGES: [from: string, to: string][] = [
  ['', ''],
  ['2026-11-30T00:00:00Z', '2026-12-02T00:00:00Z'],
  ['2026-11-30T05:00:00Z', '2026-12-01T19:00:00Z'],
  ['2026-11-29T23:17:00Z', '2026-12-02T13:41:30.5Z'],
  ['2026-11-30T05:10:00Z', '2026-11-30T05:50:00Z'],
  ['2026-11-30T05:10:00Z', '2026-11-30T19:20:00Z'],
  ['2026-11-30T05:10:00+02:00', ''],
  ['', '2026-12-01T10:00:00Z'],
  ['2026-11-30T05:00:00.0000005Z', '2026-12-01T00:00:00Z'],
];
const GROUPINGS = [[], ['team'], ['model'], ['key'], ['customer'], ['provider'], ['day'], ['month'], ['team', 'model', 'day']];
const FILTERS: Partial<SpendQuery>[] = [{}, { teamId: 'team-1' }, { model: 'claude', provider: 'anthropic' }, { keyId: 'vk_3', customerId: 'cust-1' }];

/** Every report both ways, from the rollups (spend) and from the rows alone: the same, to the last decimal. */
async function expectSameBothWays(db: Database) {
  const reader = new SpendReader(db);
  let compared = 0;
  for (const [from, to] of RANGES)
    for (const groupBy of GROUPINGS)
      for (const filter of groupBy.length < 3 ? [{}] : FILTERS) {
        const q = query({ from, to, groupBy, ...filter });
        const [rolled, raw] = [await reader.spend(q), await reader.spendFromLedger(q)];
        expect(rolled, JSON.stringify(q)).toEqual(raw);
        compared += raw.rows.length;
      }
  return compared;
}

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('spend rollups on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function ledger(upTo = Infinity): Promise<Database> {
    handle = await DATABASE_KINDS[kind]();
    await migrate(
      handle.db,
      'metering',
      meteringMigrations.filter((m) => m.version <= upTo),
      silent,
    );
    return handle.db;
  }
  const sums = async (db: Database, table: string) =>
    (await db.query<{ requests: number; cost: string }>(`SELECT sum(requests)::int AS requests, sum(cost_usd)::text AS cost FROM ${table}`)).rows[0];

  it('answers every report as the rows do, counting a redelivered or re-published request once', async () => {
    const db = await ledger();
    await writeTraffic(
      db,
      Array.from({ length: ROWS }, (_, i) => i),
    );
    const ledgerSums = (await db.query<{ requests: number; cost: string }>('SELECT count(*)::int AS requests, sum(cost_usd)::text AS cost FROM usage_records'))
      .rows[0];
    expect(ledgerSums!.requests).toBe(ROWS);
    expect(await sums(db, 'usage_rollup_hourly')).toEqual(ledgerSums);
    expect(await sums(db, 'usage_rollup_daily')).toEqual(ledgerSums);
    expect(await expectSameBothWays(db)).toBeGreaterThan(500);
    // A tag's report reads the rows (the rollups hold no tags) and is unchanged.
    const tagged = await new SpendReader(db).spend(query({ groupBy: ['tag'], from: RANGES[3]![0], to: RANGES[3]![1] }));
    expect(tagged.rows.map((r) => r.group.tag)).toEqual(['batch', 'run-0', 'run-1', 'run-2', '']);
    expect(tagged.rows[0]!.requests + tagged.rows[4]!.requests).toBe(tagged.total!.requests);
  });

  it('fills the rollups from a ledger written before them, then keeps them as rows arrive', async () => {
    const db = await ledger(8);
    // Today's writer files each row under a spend retention (migration 13): the column is there only while it writes.
    await db.query('ALTER TABLE usage_records ADD COLUMN kept_days int');
    await writeTraffic(
      db,
      Array.from({ length: ROWS / 2 }, (_, i) => i * 2),
    );
    await db.query('ALTER TABLE usage_records DROP COLUMN kept_days');
    await migrate(db, 'metering', meteringMigrations, silent);
    await writeTraffic(
      db,
      Array.from({ length: ROWS / 2 }, (_, i) => i * 2 + 1),
    );
    expect((await sums(db, 'usage_rollup_daily'))!.requests).toBe(ROWS);
    await expectSameBothWays(db);
  });

  it("keeps a month's spend after its rows expire", async () => {
    const db = await ledger();
    await db.query("SELECT metering_add_partition('usage_records', '2024-01-01')");
    const january = (i: number) => request(i, new Date(Date.UTC(2024, 0, 10, i % 24, i % 60)));
    await writeUsage(
      db,
      Array.from({ length: 40 }, (_, i) => january(i)),
      price,
    );
    const month = query({ from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z', groupBy: ['team'] });
    const before = await new SpendReader(db).spend(month);
    expect(before.total!.requests).toBe(40);

    const days = Math.floor((Date.now() - Date.UTC(2024, 1, 1)) / 86_400_000);
    expect((await db.query('SELECT partition_name FROM metering_maintain_partitions(3, $1)', [days])).rows).toEqual([
      { partition_name: 'usage_records_p202401' },
    ]);
    expect((await new SpendReader(db).spendFromLedger(month)).total!.requests).toBe(0);
    expect(await new SpendReader(db).spend(month)).toEqual(before);
  });

  it('expires the hourly rollup sooner than the daily one, never below the floor', async () => {
    const db = await ledger();
    await db.query("SELECT metering_add_partition('usage_records', '2024-01-01')");
    await writeUsage(
      db,
      Array.from({ length: 40 }, (_, i) => request(i, new Date(Date.UTC(2024, 0, 10, i % 24, i % 60)))),
      price,
    );
    const month = query({ from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z', groupBy: ['team'] });
    const before = await new SpendReader(db).spend(month);
    const days = Math.floor((Date.now() - Date.UTC(2024, 1, 1)) / 86_400_000);
    const expire = (hourly: number, daily: number) => db.query('SELECT rollup, rows::int FROM metering_expire_rollups($1, $2)', [hourly, daily]);

    await db.query("INSERT INTO gateway_settings (name, value) VALUES ('retention_floor_days', $1)", [String(days + 30)]);
    expect((await expire(1, 0)).rows).toEqual([]);
    await db.query("UPDATE gateway_settings SET value = '0' WHERE name = 'retention_floor_days'");
    expect((await expire(days, 0)).rows).toEqual([{ rollup: 'usage_rollup_hourly', rows: expect.any(Number) }]);
    expect((await sums(db, 'usage_rollup_hourly'))!.requests).toBeNull();
    expect((await sums(db, 'usage_rollup_daily'))!.requests).toBe(40);
    // A month's spend is the daily rollup's (and the rows'): unchanged with its hours gone.
    expect(await new SpendReader(db).spend(month)).toEqual(before);
    expect((await expire(days, days)).rows).toEqual([{ rollup: 'usage_rollup_daily', rows: expect.any(Number) }]);
    expect((await sums(db, 'usage_rollup_daily'))!.requests).toBeNull();
    await expect(expire(-1, 0)).rejects.toThrow(/retention days/);
  });
});

it('cuts a range into the ledger minutes, rollup hours and rollup days it spans', () => {
  const at = (iso: string) => Date.parse(iso);
  expect(pieces(at('2026-11-29T23:17:00Z'), at('2026-12-02T13:41:00Z'))).toEqual([
    { source: 'ledger', from: at('2026-11-29T23:17:00Z'), to: at('2026-11-30T00:00:00Z') },
    { source: 'day', from: at('2026-11-30T00:00:00Z'), to: at('2026-12-02T00:00:00Z') },
    { source: 'hour', from: at('2026-12-02T00:00:00Z'), to: at('2026-12-02T13:00:00Z') },
    { source: 'ledger', from: at('2026-12-02T13:00:00Z'), to: at('2026-12-02T13:41:00Z') },
  ]);
  expect(pieces(undefined, at('2026-12-02T00:00:00Z'))).toEqual([{ source: 'day', from: undefined, to: at('2026-12-02T00:00:00Z') }]);
  expect(pieces(at('2026-11-30T05:10:00Z'), at('2026-11-30T05:50:00Z'))).toEqual([
    { source: 'ledger', from: at('2026-11-30T05:10:00Z'), to: at('2026-11-30T05:50:00Z') },
  ]);
});
