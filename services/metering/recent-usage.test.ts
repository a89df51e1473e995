import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { RecentUsageQuery, SpendQuery } from '../gen/gateway/v1/metering.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { eventually } from '../../test/harness/infra.js';
import { meteringMigrations } from './migrations.js';
import { SpendReader } from './spend.js';
import { WRITE_LOCK, writeUsage } from './writer.js';

/** A completed request of key vk_1, unpriced. */
const completed = (requestId: string) =>
  requestEvent(
    EventType.requestCompleted,
    {
      service: 'ingress',
      context: { requestId, traceId: '', actor: { keyId: 'vk_1', keyName: 'k', teamId: 't', customerId: '', admin: '' }, sourceAddress: '' },
    },
    {
      endpoint: 'chat.completions',
      model: 'mock/echo',
      served: { provider: 'mock', model: 'echo', deployment: '' },
      httpStatus: 200,
      stream: false,
      cacheHit: false,
      durationMs: 1,
      errorCode: '',
      errorMessage: '',
      attempts: [],
      usage: undefined,
    },
  );

/** Writes a batch as metering's consumer does: in one transaction, under the writer's lock. */
const write = (db: Database, ids: string[], before: () => Promise<void> = async () => {}) =>
  db.transaction(async (tx) => {
    await writeUsage(tx, ids.map(completed), () => undefined);
    await before();
  }, WRITE_LOCK);

const recent = async (db: Database, after: number) => {
  const page = await new SpendReader(db).recentUsage(RecentUsageQuery.fromPartial({ filter: SpendQuery.fromPartial({}), after, limit: 1000 }));
  return { ids: page.rowsJson.map((json) => (JSON.parse(json) as { request_id: string }).request_id), cursor: page.cursor };
};

// The cursor holds only if no row becomes visible after one numbered later was read: two batches committing out of
// order would lose the first. Concurrent transactions need a server (PGlite has one connection).
describe('recent usage by cursor on postgres', () => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  it('reads every row once while batches are written concurrently', async () => {
    handle = await DATABASE_KINDS.postgres();
    const db = handle.db;
    await migrate(db, 'metering', meteringMigrations, createLogger({ level: 'silent' }));
    await write(db, ['req_1']);
    const opening = await recent(db, 0);
    expect(opening.ids).toEqual(['req_1']);

    // Batch A is written and not committed yet; batch B starts meanwhile and waits for the lock.
    let commitA!: () => void;
    const held = new Promise<void>((resolve) => (commitA = resolve));
    const a = write(db, ['req_2'], () => held);
    // The sequence is not transactional: its value shows A numbered its row.
    await eventually(
      'batch A to number its row',
      async () => Number((await db.query<{ last_value: string }>('SELECT last_value FROM usage_records_seq')).rows[0]!.last_value) >= 2 || undefined,
    );
    const b = write(db, ['req_3']);
    await eventually(
      'batch B to wait for the lock',
      async () => (await db.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rows.length > 0 || undefined,
    );
    const during = await recent(db, opening.cursor);
    expect(during.ids).toEqual([]);
    commitA();
    await Promise.all([a, b]);

    const after = await recent(db, during.cursor);
    expect(after.ids).toEqual(['req_2', 'req_3']);
    expect((await recent(db, after.cursor)).ids).toEqual([]);
  });
});
