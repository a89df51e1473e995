import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import type { Usage } from '../gen/gateway/v1/common.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { SpendQuery } from '../gen/gateway/v1/metering.js';
import { meteringMigrations } from './migrations.js';
import { Pricing } from '../kit/pricing/index.js';
import { writeUsage, type PriceOf } from './writer.js';
import { SpendReader } from './spend.js';

const pricing = new Pricing({
  'openai/gpt-4o-mini': { input: 1, output: 2 },
  'anthropic/claude': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6, reasoning: 15.000001 },
});
const price: PriceOf = (o) => pricing.price(o.served, o.usage);
const silent = createLogger({ level: 'silent' });

function outcomeEvent(
  type: (typeof EventType)[keyof typeof EventType],
  requestId: string,
  totalTokens: number,
  usage: Partial<Usage> = {},
  served = { provider: 'openai', model: 'gpt-4o-mini', deployment: '' },
) {
  return requestEvent(
    type,
    {
      service: 'ingress',
      context: { requestId, traceId: '', actor: { keyId: 'vk_9', keyName: 'k', teamId: 'team-9', customerId: 'cust-9', admin: '' }, sourceAddress: '' },
    },
    {
      endpoint: 'chat.completions',
      model: `${served.provider}/${served.model}`,
      served,
      httpStatus: type === EventType.requestCompleted ? 200 : 502,
      usage: {
        promptTokens: totalTokens - 3,
        completionTokens: 3,
        totalTokens,
        cachedTokens: 1,
        reasoningTokens: 0,
        cacheWriteTokens: 2,
        cacheWrite1hTokens: 0,
        billed: undefined,
        ...usage,
      },
      stream: true,
      cacheHit: false,
      durationMs: 40,
      errorCode: '',
      errorMessage: '',
      attempts: [],
    },
  );
}

const COSTS = 'cost_usd, input_cost_usd, cache_read_cost_usd, cache_write_cost_usd, output_cost_usd, reasoning_cost_usd, saved_usd';

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('usage ledger writer on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function ledger(migrations = meteringMigrations): Promise<Database> {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, 'metering', migrations, silent);
    return handle.db;
  }

  it('writes one row per admitted request and never counts a request twice', async () => {
    const db = await ledger();
    const completed = outcomeEvent(EventType.requestCompleted, 'req_m1', 20);
    const failed = outcomeEvent(EventType.requestFailed, 'req_m2', 5);
    const rejected = outcomeEvent(EventType.requestRejected, 'req_m3', 0);
    // The same request reported again under a new event id (a re-publish after a crash) still counts once.
    const republished = { ...outcomeEvent(EventType.requestCompleted, 'req_m1', 20) };
    await writeUsage(db, [completed, failed, rejected], price);
    await writeUsage(db, [completed, republished], price);

    const { rows } = await db.query<{
      request_id: string;
      outcome: string;
      team_id: string;
      provider: string;
      total_tokens: number;
      cached_tokens: number;
      cache_write_tokens: number;
      cost_usd: string | null;
      http_status: number;
    }>(
      'SELECT request_id, outcome, team_id, provider, total_tokens, cached_tokens, cache_write_tokens, cost_usd, http_status FROM usage_records ORDER BY request_id',
    );
    // req_m1: 14 fresh + 1 cached + 2 written prompt tokens at $1/M, 3 completion tokens at $2/M = $0.000023.
    expect(rows).toEqual([
      {
        request_id: 'req_m1',
        outcome: 'completed',
        team_id: 'team-9',
        provider: 'openai',
        total_tokens: 20,
        cached_tokens: 1,
        cache_write_tokens: 2,
        cost_usd: '0.000023000000',
        http_status: 200,
      },
      {
        request_id: 'req_m2',
        outcome: 'failed',
        team_id: 'team-9',
        provider: 'openai',
        total_tokens: 5,
        cached_tokens: 1,
        cache_write_tokens: 2,
        cost_usd: '0.000008000000',
        http_status: 502,
      },
    ]);
  });

  it('keeps every part of the cost, to the pico-dollar, adding up to it in the row and in the report', async () => {
    const db = await ledger();
    // 1 fresh, 14 read, 3 written for five minutes and 2 for an hour; 2 visible and 3 reasoning completion tokens.
    const usage = { promptTokens: 20, cachedTokens: 14, cacheWriteTokens: 5, cacheWrite1hTokens: 2, completionTokens: 5, reasoningTokens: 3 };
    await writeUsage(db, [outcomeEvent(EventType.requestCompleted, 'req_all', 25, usage, { provider: 'anthropic', model: 'claude', deployment: '' })], price);
    const { rows } = await db.query<Record<string, string>>(`SELECT cache_write_1h_tokens, reasoning_tokens, ${COSTS} FROM usage_records`);
    expect(rows).toEqual([
      {
        cache_write_1h_tokens: 2,
        reasoning_tokens: 3,
        cost_usd: '0.000105450003',
        input_cost_usd: '0.000003000000',
        cache_read_cost_usd: '0.000004200000',
        cache_write_cost_usd: '0.000023250000',
        output_cost_usd: '0.000030000000',
        reasoning_cost_usd: '0.000045000003',
        saved_usd: null,
      },
    ]);
    const { total } = await new SpendReader(db).spend(SpendQuery.fromPartial({}));
    expect(total).toMatchObject({
      costUsd: '0.000105450003',
      inputCostUsd: '0.000003000000',
      cacheReadCostUsd: '0.000004200000',
      cacheWriteCostUsd: '0.000023250000',
      outputCostUsd: '0.000030000000',
      reasoningCostUsd: '0.000045000003',
      cacheWriteTokens: 5,
      reasoningTokens: 3,
    });
  });

  it("records an unknown model's cost and its parts as NULL, and a cache hit as free with what it saved", async () => {
    const db = await ledger();
    const unknown = outcomeEvent(EventType.requestCompleted, 'req_u', 20);
    if (unknown.payload?.$case === 'request') unknown.payload.request.served = { provider: 'local', model: 'homegrown-7b', deployment: '' };
    const hit = outcomeEvent(EventType.requestCompleted, 'req_h', 20);
    if (hit.payload?.$case === 'request') hit.payload.request.cacheHit = true;
    await writeUsage(db, [unknown, hit], price);
    const { rows } = await db.query<Record<string, string | null>>(`SELECT request_id, ${COSTS} FROM usage_records ORDER BY request_id`);
    const zero = '0.000000000000';
    expect(rows).toEqual([
      {
        request_id: 'req_h',
        cost_usd: zero,
        input_cost_usd: zero,
        cache_read_cost_usd: zero,
        cache_write_cost_usd: zero,
        output_cost_usd: zero,
        reasoning_cost_usd: zero,
        saved_usd: '0.000023000000',
      },
      {
        request_id: 'req_u',
        cost_usd: null,
        input_cost_usd: null,
        cache_read_cost_usd: null,
        cache_write_cost_usd: null,
        output_cost_usd: null,
        reasoning_cost_usd: null,
        saved_usd: null,
      },
    ]);
  });

  it('upgrades a ledger written before costs had parts, keeping its rows as they were', async () => {
    const db = await ledger(meteringMigrations.filter((m) => m.version <= 3));
    await db.query(
      `INSERT INTO usage_records (request_id, event_id, occurred_at, outcome, key_id, team_id, customer_id, endpoint, model, provider, provider_model, deployment,
         prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cache_hit, stream, http_status, duration_ms, cost_usd)
       VALUES ('req_old', gen_random_uuid(), now(), 'completed', 'vk_9', 'team-9', '', 'chat.completions', 'm', 'openai', 'gpt-4o-mini', '', 17, 3, 20, 0, 0, false, false, 200, 1, 0.0000230000)`,
    );
    await migrate(db, 'metering', meteringMigrations, silent);
    await writeUsage(db, [outcomeEvent(EventType.requestCompleted, 'req_new', 20)], price);
    const { rows } = await db.query<Record<string, string | null>>(
      `SELECT request_id, cost_usd, input_cost_usd, cache_write_1h_tokens FROM usage_records ORDER BY request_id`,
    );
    expect(rows).toEqual([
      { request_id: 'req_new', cost_usd: '0.000023000000', input_cost_usd: '0.000014000000', cache_write_1h_tokens: 0 },
      { request_id: 'req_old', cost_usd: '0.0000230000', input_cost_usd: null, cache_write_1h_tokens: 0 },
    ]);
    const { total } = await new SpendReader(db).spend(SpendQuery.fromPartial({}));
    expect(total).toMatchObject({ costUsd: '0.000046000000', inputCostUsd: '0.000014000000' });
  });
});
