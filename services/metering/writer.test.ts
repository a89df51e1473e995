import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { meteringMigrations } from './migrations.js';
import { Pricing } from '../kit/pricing/index.js';
import { writeUsage } from './writer.js';

const pricing = new Pricing({ 'openai/gpt-4o-mini': { input: 1, output: 2 } });
const price = (o: Parameters<Parameters<typeof writeUsage>[2]>[0]) => pricing.cost(o.served, o.usage);

function outcomeEvent(type: (typeof EventType)[keyof typeof EventType], requestId: string, totalTokens: number) {
  return requestEvent(type, { service: 'ingress', context: { requestId, traceId: '', actor: { keyId: 'vk_9', keyName: 'k', teamId: 'team-9', customerId: 'cust-9', admin: '' }, sourceAddress: '' } }, {
    endpoint: 'chat.completions',
    model: 'openai/gpt-4o-mini',
    served: { provider: 'openai', model: 'gpt-4o-mini', deployment: '' },
    httpStatus: type === EventType.requestCompleted ? 200 : 502,
    usage: { promptTokens: totalTokens - 3, completionTokens: 3, totalTokens, cachedTokens: 1, reasoningTokens: 0, cacheWriteTokens: 2 },
    stream: true,
    cacheHit: false,
    durationMs: 40,
    errorCode: '',
    errorMessage: '',
    attempts: [],
  });
}

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('usage ledger writer on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  it('writes one row per admitted request and never counts a request twice', async () => {
    handle = await DATABASE_KINDS[kind]();
    const { db } = handle;
    await migrate(db, 'metering', meteringMigrations, createLogger({ level: 'silent' }));
    const completed = outcomeEvent(EventType.requestCompleted, 'req_m1', 20);
    const failed = outcomeEvent(EventType.requestFailed, 'req_m2', 5);
    const rejected = outcomeEvent(EventType.requestRejected, 'req_m3', 0);
    // The same request reported again under a new event id (a re-publish after a crash) still counts once.
    const republished = { ...outcomeEvent(EventType.requestCompleted, 'req_m1', 20) };
    await writeUsage(db, [completed, failed, rejected], price);
    await writeUsage(db, [completed, republished], price);

    const { rows } = await db.query<{ request_id: string; outcome: string; team_id: string; provider: string; total_tokens: number; cached_tokens: number; cache_write_tokens: number; cost_usd: string | null; http_status: number }>(
      'SELECT request_id, outcome, team_id, provider, total_tokens, cached_tokens, cache_write_tokens, cost_usd, http_status FROM usage_records ORDER BY request_id',
    );
    // req_m1: 14 fresh + 1 cached + 2 written prompt tokens at $1/M, 3 completion tokens at $2/M = $0.000023.
    expect(rows).toEqual([
      { request_id: 'req_m1', outcome: 'completed', team_id: 'team-9', provider: 'openai', total_tokens: 20, cached_tokens: 1, cache_write_tokens: 2, cost_usd: '0.0000230000', http_status: 200 },
      { request_id: 'req_m2', outcome: 'failed', team_id: 'team-9', provider: 'openai', total_tokens: 5, cached_tokens: 1, cache_write_tokens: 2, cost_usd: '0.0000080000', http_status: 502 },
    ]);
  });

  it('records an unknown model\'s cost as NULL, and a cache hit as free with what it saved', async () => {
    handle = await DATABASE_KINDS[kind]();
    const { db } = handle;
    await migrate(db, 'metering', meteringMigrations, createLogger({ level: 'silent' }));
    const unknown = outcomeEvent(EventType.requestCompleted, 'req_u', 20);
    if (unknown.payload?.$case === 'request') unknown.payload.request.served = { provider: 'local', model: 'homegrown-7b', deployment: '' };
    const hit = outcomeEvent(EventType.requestCompleted, 'req_h', 20);
    if (hit.payload?.$case === 'request') hit.payload.request.cacheHit = true;
    await writeUsage(db, [unknown, hit], price);
    const { rows } = await db.query<{ request_id: string; cost_usd: string | null; saved_usd: string | null }>('SELECT request_id, cost_usd, saved_usd FROM usage_records ORDER BY request_id');
    expect(rows).toEqual([
      { request_id: 'req_h', cost_usd: '0.0000000000', saved_usd: '0.0000230000' },
      { request_id: 'req_u', cost_usd: null, saved_usd: null },
    ]);
  });
});
