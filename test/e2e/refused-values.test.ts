import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../services/audit/verify.js';
import { generatedChainKeys } from '../../services/audit/keys.js';
import type { Queryable } from '../../services/kit/db/types.js';
import { decodeEvent } from '../../services/kit/events.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { createDatabase, eventually, isolatedBus, requireInfra } from '../harness/infra.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NUL = '\u0000';
const LONE_SURROGATE = '\ud800';
const REPLACEMENT = '\ufffd';

// PostgreSQL's text and jsonb hold neither U+0000 nor unpaired surrogates.
// Clients and providers can still put them in what a request records (a model
// name, an error message quoting a client's value): the rows must be written
// anyway, with U+FFFD in their place, and must not hold up the rows after them.
// A value PostgreSQL refuses for another reason sets its one event aside.
describe('values PostgreSQL refuses, from clients, providers and config', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let fake: FakeOpenAI;
  let db: pg.Client;
  let client: OpenAI;
  let config: Record<string, unknown>;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = requireInfra();
    const database = await createDatabase(infra.databaseUrl);
    const bus = isolatedBus(infra.natsUrl);
    cleanup.push(database.drop, bus.cleanup);
    fake = await startFakeOpenAI({ apiKey: 'sk-fake-provider' });
    config = {
      nats: { url: infra.natsUrl, stream: bus.stream, subjectPrefix: bus.subjectPrefix, insecure: true },
      database: { url: database.url },
      routing: { providers: { mock: { type: 'mock' }, openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-fake-provider' } } },
      // A price so high that a request's cost overflows the ten whole digits the ledger takes: PostgreSQL refuses the row.
      pricing: { models: { 'mock/costly': { input: 1e16, output: 1e16 } } },
    };
    gateway = await startInProcess(config);
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    client = gateway.client((await gateway.createKey({ name: 'unstorable' })).key);
  });

  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await db?.end();
    for (const step of cleanup.reverse()) await step();
  });

  /** The request id of a request the gateway refused with 400. */
  const refusedId = async (request: Promise<unknown>): Promise<string> => {
    const error = await request.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    return (error as InstanceType<typeof OpenAI.BadRequestError>).headers?.get('x-request-id') ?? '';
  };

  it('refuses a model name with a control character or an unpaired surrogate, naming the parameter', async () => {
    for (const model of [`mock/ec${NUL}ho`, `mock/e${LONE_SURROGATE}cho`, 'mock/echo\n']) {
      const error = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('model');
    }
  });

  it('names a model written in another script in its response header, percent-encoded', async () => {
    const { response } = await client.chat.completions.create({ model: 'mock/模型', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(response.headers.get('x-gateway-model')).toBe(encodeURIComponent('模型'));
    expect(decodeURIComponent(response.headers.get('x-gateway-model')!)).toBe('模型');
  });

  it('refuses admin values PostgreSQL cannot hold with 400, and stores nothing of them', async () => {
    for (const [path, body] of [
      ['/admin/keys', { name: `a${NUL}b` }],
      ['/admin/teams', { id: 'unstorable-team', name: 'fine', metadata: { note: `x${LONE_SURROGATE}` } }],
      ['/admin/customers', { id: 'unstorable-customer', name: `c${NUL}` }],
    ] as const) {
      const refused = await admin<{ error: { code: string; message: string } }>(gateway.adminUrl, 'POST', path, body, [400]);
      expect(refused.error.code).toBe('invalid_request');
      expect(refused.error.message).toContain('cannot be stored');
    }
    const { rows } = await db.query<{ n: number }>(
      "SELECT (SELECT count(*) FROM teams WHERE id = 'unstorable-team') + (SELECT count(*) FROM customers WHERE id = 'unstorable-customer')::int AS n",
    );
    expect(Number(rows[0]!.n)).toBe(0);
    // Nothing of the refused team was kept in memory either: its id is free.
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'unstorable-team', name: 'fine', metadata: { note: 'ok' } }, [201]);
  });

  it('records every request, with U+FFFD where a stored string had what PostgreSQL cannot hold, and keeps the chain whole', async () => {
    const refusedModel = await refusedId(client.chat.completions.create({ model: `mock/ec${NUL}ho`, messages: [{ role: 'user', content: 'x' }] }));
    // The provider refuses the value and quotes it in its error message, which the request's events carry.
    const effort = `hi${NUL}gh${LONE_SURROGATE}`;
    const quoted = await refusedId(
      client.chat.completions.create({ model: 'openai/o4-mini', messages: [{ role: 'user', content: 'x' }], reasoning_effort: effort as 'high' }),
    );
    const after = (
      await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'after' }] }).withResponse()
    ).response.headers.get('x-request-id')!;
    const ids = [refusedModel, quoted, after];
    expect(ids.every((id) => id.startsWith('req_'))).toBe(true);

    const audit = await eventually('an audit row for each request', async () => {
      const { rows } = await db.query<{ request_id: string; payload: { request: { model: string; errorMessage?: string } } }>(
        'SELECT request_id, payload FROM audit_events WHERE request_id = ANY($1)',
        [ids],
      );
      return rows.length === ids.length ? new Map(rows.map((r) => [r.request_id, r.payload.request])) : undefined;
    });
    expect(audit.get(refusedModel)?.model).toBe(`mock/ec${REPLACEMENT}ho`);
    expect(audit.get(quoted)?.errorMessage).toContain(`Invalid value: 'hi${REPLACEMENT}gh${REPLACEMENT}'`);
    expect(audit.get(after)?.model).toBe('mock/echo');

    const usage = await eventually('a usage row for each admitted request', async () => {
      const { rows } = await db.query<{ request_id: string; outcome: string }>('SELECT request_id, outcome FROM usage_records WHERE request_id = ANY($1)', [
        [quoted, after],
      ]);
      return rows.length === 2 ? new Map(rows.map((r) => [r.request_id, r.outcome])) : undefined;
    });
    expect(usage.get(quoted)).toBe('failed');
    expect(usage.get(after)).toBe('completed');

    const verdict = await verifyChain(db as unknown as Queryable, { keys: generatedChainKeys(gateway.dataDir)! });
    expect(verdict).toMatchObject({ ok: true });
    expect(verdict.rows).toBeGreaterThanOrEqual(ids.length);
  });

  it('sets aside an event PostgreSQL refuses (a cost beyond the ledger), kept whole, and writes every event around it', async () => {
    const ask = (model: string) =>
      client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'x' }] })
        .withResponse()
        .then((r) => r.response.headers.get('x-request-id')!);
    // Sent together, so they are likely one batch: the refused event is found by writing halves apart.
    const ids = await Promise.all(['mock/echo', 'mock/echo', 'mock/costly', 'mock/echo', 'mock/echo'].map(ask));
    const costly = ids[2]!;
    const fine = ids.filter((id) => id !== costly);

    const setAside = await eventually('the refused event in dead_letters', async () => {
      const { rows } = await db.query<{ event: Buffer; error: string; event_type: string }>(
        "SELECT event, error, event_type FROM dead_letters WHERE consumer = 'metering' AND request_id = $1",
        [costly],
      );
      return rows[0];
    });
    expect(setAside.error).toContain('numeric field overflow');
    expect(setAside.event_type).toBe('request.completed');
    const event = decodeEvent(setAside.event);
    expect(event.requestId).toBe(costly);
    expect(event.payload?.$case === 'request' && event.payload.request.model).toBe('mock/costly');

    await eventually('a usage row for every other request', async () => {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_records WHERE request_id = ANY($1)', [fine]);
      return rows[0]!.n === fine.length ? true : undefined;
    });
    await eventually('an audit row for all five, the refused one too', async () => {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE request_id = ANY($1)', [ids]);
      return rows[0]!.n === ids.length ? true : undefined;
    });
    const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
    expect(/^gateway_consumer_dead_letters_total\{consumer="metering"\} 1$/m.test(metrics)).toBe(true);

    // What an operator sees.
    const env = { ...process.env, GATEWAY_DATABASE__URL: (config.database as { url: string }).url, GATEWAY_CONFIG: '' };
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'services/gateway/cli.ts', 'dead-letters', ...args], { cwd: REPO, env });
    const listed = (await cli([])).stdout.trim().split('\n');
    expect(listed).toEqual([
      expect.stringMatching(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+\\tmetering\\trequest\\.completed\\t${costly}\\t.*numeric field overflow`)),
    ]);
    const [whole] = JSON.parse((await cli(['--consumer', 'metering', '--json'])).stdout) as Array<{ requestId: string; event: { request: { model: string } } }>;
    expect(whole).toMatchObject({ requestId: costly, event: { request: { model: 'mock/costly' } } });
    expect((await cli(['--consumer', 'audit'])).stdout.trim()).toBe('no dead letters');
  });

  it('writes the event set aside once its cause is fixed, when the consumer starts again', async () => {
    const { rows } = await db.query<{ request_id: string }>("SELECT request_id FROM dead_letters WHERE consumer = 'metering'");
    expect(rows).toHaveLength(1);
    const costly = rows[0]!.request_id;
    // The price corrected, and the gateway restarted with it.
    await gateway.stop();
    // Its data folder too, as a restarted process keeps it: the audit chain's key is there.
    gateway = await startInProcess({ ...config, dataDir: gateway.dataDir, pricing: { models: { 'mock/costly': { input: 2, output: 8 } } } });
    const usage = await eventually('the usage row of the request set aside', async () => {
      const { rows: usageRows } = await db.query<{ cost_usd: string | null; outcome: string }>(
        'SELECT cost_usd, outcome FROM usage_records WHERE request_id = $1',
        [costly],
      );
      return usageRows[0];
    });
    expect(usage.outcome).toBe('completed');
    expect(Number(usage.cost_usd)).toBeGreaterThan(0);
    // The letter leaves the table, and is counted, just after its row is written.
    await eventually('dead_letters empty and the retry counted', async () => {
      const { rows: left } = await db.query("SELECT 1 FROM dead_letters WHERE consumer = 'metering'");
      const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
      return left.length === 0 && /^gateway_consumer_dead_letters_retried_total\{consumer="metering"\} 1$/m.test(metrics) ? true : undefined;
    });
  });
});
