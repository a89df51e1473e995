import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { adminEvent, EventType, requestEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { auditMigrations } from './migrations.js';
import { verifyChain } from './verify.js';
import { writeAuditEvents } from './writer.js';
import { ensureKeyed, keysOf } from './keys.js';
import { answered } from '../../test/harness/events.js';

const keys = keysOf('a chain key of at least 32 characters, for tests');

const context = {
  requestId: 'req_audit_1',
  traceId: 'a'.repeat(32),
  actor: { keyId: 'vk_1', keyName: 'k', teamId: 't', customerId: 'c', admin: '' },
  sourceAddress: '10.0.0.1',
};
const outcome = answered({ model: 'mock/echo', served: { provider: 'mock', model: 'echo', deployment: '' }, durationMs: 12.5 });

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('audit log writer on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  it('appends each event once, however often it is delivered', async () => {
    handle = await DATABASE_KINDS[kind]();
    const { db } = handle;
    await migrate(db, 'audit', auditMigrations, createLogger({ level: 'silent' }));
    await db.transaction((tx) => ensureKeyed(tx, keys));
    const completed = requestEvent(EventType.requestCompleted, { service: 'ingress', context }, outcome);
    const created = adminEvent(
      'admin.virtual_key.create',
      { service: 'governance', actor: { keyId: '', keyName: '', teamId: '', customerId: '', admin: 'ops' } },
      {
        action: 'create',
        resource: 'virtual_key',
        resourceId: 'vk_1',
        beforeJson: '',
        afterJson: '{"id":"vk_1"}',
      },
    );
    await writeAuditEvents(db, [completed, created], keys.current);
    await writeAuditEvents(db, [completed], keys.current);
    await writeAuditEvents(db, [created, completed], keys.current);

    const { rows } = await db.query<{
      event_id: string;
      event_type: string;
      request_id: string;
      actor_key_id: string;
      actor_admin: string;
      source_address: string;
      payload: Record<string, unknown>;
    }>(
      `SELECT event_id, event_type, request_id, actor_key_id, actor_admin, source_address, payload FROM audit_events WHERE event_type <> 'audit.chain_keyed' ORDER BY seq`,
    );
    expect(rows.map((r) => r.event_id)).toEqual([completed.id, created.id]);
    expect(rows[0]).toMatchObject({ event_type: 'request.completed', request_id: 'req_audit_1', actor_key_id: 'vk_1', source_address: '10.0.0.1' });
    expect(rows[0]!.payload).toMatchObject({ request: { model: 'mock/echo', httpStatus: 200 } });
    expect(rows[1]).toMatchObject({ event_type: 'admin.virtual_key.create', actor_admin: 'ops' });
  });

  it('stores every character a string can hold as it was, and the chain verifies over them', async () => {
    handle = await DATABASE_KINDS[kind]();
    const { db } = handle;
    await migrate(db, 'audit', auditMigrations, createLogger({ level: 'silent' }));
    await db.transaction((tx) => ensureKeyed(tx, keys));
    const awkward = 'quote " backslash \\ slash / newline \n tab \t bell \u0007 line sep \u2028 emoji 🦜 accents é 模型 json {"a":[1]} \\u0041';
    const events = [
      requestEvent(
        EventType.requestFailed,
        { service: 'ingress', context: { ...context, requestId: `req_${awkward}`, sourceAddress: awkward } },
        { ...outcome, model: awkward, errorMessage: awkward },
      ),
      requestEvent(EventType.requestCompleted, { service: 'ingress', context }, outcome),
    ];
    await writeAuditEvents(db, events, keys.current);
    const { rows } = await db.query<{ request_id: string; source_address: string; payload: { request: { model: string; errorMessage: string } } }>(
      `SELECT request_id, source_address, payload FROM audit_events WHERE event_type <> 'audit.chain_keyed' ORDER BY seq`,
    );
    expect(rows[0]).toMatchObject({ request_id: `req_${awkward}`, source_address: awkward, payload: { request: { model: awkward, errorMessage: awkward } } });
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 3 });
  });

  it('migrates once, even when asked again', async () => {
    handle = await DATABASE_KINDS[kind]();
    const log = createLogger({ level: 'silent' });
    await migrate(handle.db, 'audit', auditMigrations, log);
    await migrate(handle.db, 'audit', auditMigrations, log);
    const { rows } = await handle.db.query<{ n: number }>("SELECT count(*)::int AS n FROM gateway_migrations WHERE component = 'audit'");
    expect(rows[0]!.n).toBe(auditMigrations.length);
  });
});
