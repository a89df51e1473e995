import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { meteringMigrations } from './migrations.js';
import { writeUsage } from './writer.js';

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
    await writeUsage(db, [completed, failed, rejected]);
    await writeUsage(db, [completed, republished]);

    const { rows } = await db.query<{ request_id: string; outcome: string; team_id: string; provider: string; total_tokens: number; cached_tokens: number; cache_write_tokens: number; cost_usd: string | null; http_status: number }>(
      'SELECT request_id, outcome, team_id, provider, total_tokens, cached_tokens, cache_write_tokens, cost_usd, http_status FROM usage_records ORDER BY request_id',
    );
    expect(rows).toEqual([
      { request_id: 'req_m1', outcome: 'completed', team_id: 'team-9', provider: 'openai', total_tokens: 20, cached_tokens: 1, cache_write_tokens: 2, cost_usd: null, http_status: 200 },
      { request_id: 'req_m2', outcome: 'failed', team_id: 'team-9', provider: 'openai', total_tokens: 5, cached_tokens: 1, cache_write_tokens: 2, cost_usd: null, http_status: 502 },
    ]);
  });
});
