import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../services/kit/db/migrate.js';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import type { Database } from '../../services/kit/db/types.js';
import { createLogger } from '../../services/kit/log.js';
import { responsesFormat } from '../../services/routing/formats/responses.js';
import { routingMigrations } from '../../services/routing/migrations.js';
import { ResponsesState } from '../../services/routing/responses-state.js';
import { createDatabase, requireInfra } from '../harness/infra.js';

const log = createLogger({ level: 'silent' });
const context = (teamId: string) => ({
  requestId: 'req_1',
  traceId: 't',
  sourceAddress: '',
  actor: { keyId: 'k', keyName: 'k', teamId, customerId: '', admin: '' },
});

// Stored responses expire after routing.responses.retentionDays and the purge deletes them, in real PostgreSQL.
describe('expiry of stored responses', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let state: ResponsesState;

  beforeAll(async () => {
    const database = await createDatabase(requireInfra().databaseUrl, { keepRows: false });
    drop = database.drop;
    db = await connectPostgres(database.url, 2, log);
    await migrate(db, 'routing', routingMigrations, log);
    state = new ResponsesState(db, { store: true, retentionDays: 30, hostedTools: 'refuse' }, log);
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  async function store(input: string): Promise<string> {
    const body = await state.resolve({ model: 'm', input }, context('t1'), true);
    const translation = responsesFormat.parse(body);
    const response = translation.response({
      id: 'c',
      object: 'chat.completion',
      created: 0,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: `re: ${input}` }, finish_reason: 'stop' }],
    } as never) as { id: string };
    await state.keeper(body, () => translation.conversation!(translation.chat.messages), context('t1'))!(response);
    return response.id;
  }

  it(`keeps a response for retentionDays, then hides and purges it`, async () => {
    const kept = await store('fresh');
    const old = await store('old');
    const { rows } = await db.query<{ days: number }>(
      'SELECT round(extract(epoch FROM expires_at - created_at) / 86400)::int AS days FROM routing_responses WHERE id = $1',
      [kept],
    );
    expect(rows[0]?.days).toBe(30);

    await db.query("UPDATE routing_responses SET expires_at = now() - interval '1 second' WHERE id = $1", [old]);
    await expect(state.stored({ context: context('t1'), id: old, action: 'retrieve', after: '', limit: 0, order: '' })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(state.resolve({ model: 'm', input: 'more', previous_response_id: old }, context('t1'), true)).rejects.toMatchObject({ code: 'not_found' });

    expect(await state.purge()).toBe(1);
    const left = await db.query<{ id: string }>('SELECT id FROM routing_responses ORDER BY id');
    expect(left.rows.map((r) => r.id)).toEqual([kept]);
    const continued = await state.resolve({ model: 'm', input: 'more', previous_response_id: kept }, context('t1'), true);
    expect((continued.input as { content: unknown }[]).map((item) => item.content)).toEqual([
      [{ type: 'input_text', text: 'fresh' }],
      expect.anything(),
      'more',
    ]);
  });
});
