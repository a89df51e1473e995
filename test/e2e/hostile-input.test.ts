import { connect } from 'node:net';
import type OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startInProcess, startSplit, type TestGateway } from '../harness/gateway.js';
import { eventually, freePort, isolatedInfra } from '../harness/infra.js';

/** A raw HTTP/1.1 exchange, for what no HTTP client will send: the answer's status, headers and body. */
async function rawHttp(url: string, request: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { hostname, port } = new URL(url);
  const text = await new Promise<string>((resolve) => {
    const socket = connect(Number(port), hostname, () => socket.end(request));
    let received = '';
    socket.on('data', (data) => (received += data.toString()));
    socket.on('close', () => resolve(received));
    // The server may answer and close before all of the request was written (EPIPE): what it answered is the point.
    socket.on('error', () => undefined);
  });
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user' as const, content: 'hello' }], ...extra });

/** 10,000 levels of arrays, as a JSON text. */
const DEEP = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;

// Each finding of issue 20 that a single request could cause, tried as an
// attacker holding one key would, with the gateway in one process and split
// into six: the request gets a clean error naming the field, it is on record,
// and the next request of another key is served and recorded.
describe.each(['in-process', 'split'] as const)('hostile input (%s)', (mode) => {
  let gateway: TestGateway & {
    routingOps: string;
    meteringOps: string;
    ingressAlive(): boolean;
    stopGovernance?(): Promise<void>;
    startGovernance?(): Promise<void>;
  };
  let fake: FakeOpenAI;
  let db: pg.Client;
  let attacker: { key: string; id: string };
  let bystander: OpenAI;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    fake = await startFakeOpenAI({ apiKey: 'sk-hostile-provider' });
    cleanup.push(() => fake.close(), infra.drop);
    const config = {
      nats: infra.nats,
      database: infra.database,
      routing: {
        providers: {
          mock: { type: 'mock' },
          openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-hostile-provider' },
          // Nothing listens there: a provider inside the company's network that is down.
          down: { type: 'openai', baseUrl: `http://127.0.0.1:${await freePort()}/v1` },
        },
        circuitBreaker: { failureThreshold: 2, windowMs: 60_000, openMs: 60_000 },
      },
    };
    if (mode === 'in-process') {
      const started = await startInProcess(config);
      gateway = { ...started, routingOps: started.opsUrl, meteringOps: started.opsUrl, ingressAlive: () => true };
    } else {
      const split = await startSplit(config);
      gateway = {
        ...split,
        routingOps: split.processes.routing.opsUrl,
        meteringOps: split.processes.metering.opsUrl,
        ingressAlive: () => split.processes.ingress.child.exitCode === null,
        stopGovernance: async () => void (await split.processes.governance.kill('SIGKILL')),
        startGovernance: () => split.restart('governance'),
      };
    }
    cleanup.unshift(() => gateway.stop());
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    cleanup.splice(1, 0, () => db.end());
    attacker = await gateway.createKey({ name: 'attacker', team: 'red' });
    bystander = gateway.client((await gateway.createKey({ name: 'bystander', team: 'blue' })).key);
  });

  afterAll(async () => {
    for (const step of cleanup) await step().catch(() => undefined);
  });

  const post = (path: string, body: unknown, key = attacker.key) =>
    fetch(`${gateway.baseURL}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** The audit rows of these request ids, once there is one for each. */
  const auditRows = (ids: string[]) =>
    eventually(`an audit row for each of ${ids.length} requests`, async () => {
      const { rows } = await db.query<{
        request_id: string;
        event_type: string;
        payload: { request: { model: string; errorCode: string; httpStatus: number } };
      }>('SELECT request_id, event_type, payload FROM audit_events WHERE request_id = ANY($1)', [ids]);
      return rows.length === ids.length ? new Map(rows.map((row) => [row.request_id, row])) : undefined;
    });

  /** Another team's request is answered and recorded: nothing the attacker did reached it. */
  const bystanderServed = async () => {
    const { data, response } = await bystander.chat.completions.create(chat('openai/gpt-4o-mini')).withResponse();
    expect(data.choices[0]?.message.content).toBe('Fake OpenAI reply to: hello');
    const id = response.headers.get('x-request-id')!;
    const rows = await auditRows([id]);
    expect(rows.get(id)?.event_type).toBe('request.completed');
  };

  it('refuses a 500,000-character model name, records it cut short, and recording goes on for everyone', async () => {
    const refused = await post('/chat/completions', chat(`openai/${'x'.repeat(500_000)}`));
    expect(refused.status).toBe(400);
    const { error } = (await refused.json()) as { error: { param: string; code: string } };
    expect(error).toMatchObject({ param: 'model', code: 'invalid_request' });
    const id = refused.headers.get('x-request-id')!;
    const row = (await auditRows([id])).get(id)!;
    expect(row.event_type).toBe('request.rejected');
    expect(row.payload.request.model).toBe(`openai/${'x'.repeat(993)}…`);
    await bystanderServed();
  });

  it('answers a max_tokens no API allows with 400 naming it, even with an unknown key, and keeps serving', async () => {
    for (const maxTokens of [4_294_967_296, 1e300, -1, 1.5]) {
      for (const key of [attacker.key, 'sk-gw-not-a-key']) {
        const refused = await post('/chat/completions', chat('mock/echo', { max_tokens: maxTokens }), key);
        expect(refused.status).toBe(400);
        expect(((await refused.json()) as { error: { param: string } }).error.param).toBe('max_tokens');
      }
    }
    const anthropic = await post('/messages', { model: 'mock/echo', max_tokens: 4_294_967_296, messages: [{ role: 'user', content: 'x' }] });
    expect(anthropic.status).toBe(400);
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/^max_tokens: /) } });
    expect(gateway.ingressAlive()).toBe(true);
    await bystanderServed();
  });

  it('refuses JSON nested 10,000 deep before anything walks it, streamed or not, and no circuit opens', async () => {
    for (const stream of [false, true, false, true]) {
      const body = `{"model":"openai/gpt-4o-mini","stream":${stream},"messages":[{"role":"user","content":"x"}],"ignored":${DEEP}}`;
      const refused = await post('/chat/completions', body);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'invalid_json',
        message: expect.stringContaining('nests deeper than 64'),
      });
    }
    const { deployments } = (await (await fetch(`${gateway.routingOps}/routing/deployments`)).json()) as { deployments: { circuit: string }[] };
    expect(deployments.filter((d) => d.circuit !== 'closed')).toEqual([]);
    // The admin API parses bounded too, and neither takes a key that would set an object's prototype.
    const deepAdmin = await fetch(`${gateway.adminUrl}/admin/teams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: `{"name":"deep","metadata":${DEEP}}`,
    });
    expect(deepAdmin.status).toBe(400);
    const poisoned = await post('/chat/completions', '{"__proto__":{"admin":true},"model":"mock/echo","messages":[{"role":"user","content":"x"}]}');
    expect(((await poisoned.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    await bystanderServed();
  });

  it('names the field of a value of the wrong type, in each API shape, before any provider sees it', async () => {
    const before = fake.requests.length;
    const cases: [string, unknown, string][] = [
      ['/chat/completions', chat('openai/gpt-4o-mini', { temperature: 'hot' }), 'temperature'],
      ['/chat/completions', { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      ['/chat/completions', chat('openai/gpt-4o-mini', { tools: [{ type: 'function', function: { parameters: {} } }] }), 'tools[0].function.name'],
      ['/chat/completions', { model: 'openai/gpt-4o-mini', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
      ['/embeddings', { model: 'openai/text-embedding-3-small', input: [] }, 'input'],
      ['/responses', { model: 'openai/gpt-4o-mini', input: [null] }, 'input[0]'],
      ['/completions', { model: 'openai/gpt-4o-mini', prompt: 'x', n: 1_000 }, 'n'],
    ];
    for (const [path, body, param] of cases) {
      const refused = await post(path, body);
      expect(refused.status, `${path} ${param}`).toBe(400);
      const { error } = (await refused.json()) as { error: { param: string; type: string; message: string } };
      expect(error).toMatchObject({ param, type: 'invalid_request_error' });
      expect(error.message).toContain(`'${param}'`);
    }
    const pinned = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${attacker.key}`, 'content-type': 'application/json', 'x-gateway-deployment': 'd'.repeat(600) },
      body: JSON.stringify(chat('openai/gpt-4o-mini')),
    });
    expect(((await pinned.json()) as { error: { param: string } }).error.param).toBe('x-gateway-deployment');
    const anthropic = await post('/messages', { model: 'openai/gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 5 }] });
    expect(anthropic.status).toBe(400);
    expect(await anthropic.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'messages.0.content: expected a string or an array of content blocks' },
    });
    expect(fake.requests.length).toBe(before);
  });

  it('refuses a model name with ".." before an allowlist or a provider URL can resolve it', async () => {
    const narrow = await gateway.createKey({ name: 'narrow', team: 'red' });
    await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${narrow.id}`, { allowed_models: ['openai/gpt-4o-mini*'] });
    const refused = await post('/chat/completions', chat('openai/gpt-4o-mini/../o3-pro'), narrow.key);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { param: string; message: string } }).error).toMatchObject({
      param: 'model',
      message: expect.stringContaining('".."'),
    });
  });

  it('keeps what it holds per model name bounded however many names clients make up', async () => {
    const client = gateway.client(attacker.key);
    let next = 0;
    const made = async () => {
      for (let i = next++; i < 1_100; i = next++) await client.chat.completions.create(chat(`mock/made-up-${i}`));
    };
    await Promise.all(Array.from({ length: 16 }, made));
    for (let i = 0; i < 20; i++) await post('/chat/completions', chat(`openai/fail-404-${i}`));

    const { deployments } = (await (await fetch(`${gateway.routingOps}/routing/deployments`)).json()) as { deployments: { id: string }[] };
    // No group is configured here: every deployment is one a client named, the 1,000 named last.
    expect(deployments.length).toBe(1_000);
    expect(deployments.some((d) => d.id === 'openai/fail-404-19')).toBe(true);
    expect(deployments.some((d) => d.id === 'mock/made-up-0')).toBe(false);
    const metrics = await (await fetch(`${gateway.routingOps}/metrics`)).text();
    const series = (name: string) => metrics.split('\n').filter((line) => line.startsWith(`${name}{`));
    const upstream = series('gateway_upstream_requests_total');
    // Names a provider answered for count apart up to 500; the rest, and every name no provider knew, as "<provider>/other".
    const own = new Set(upstream.map((line) => /deployment="([^"]+)"/.exec(line)![1]!).filter((id) => !id.endsWith('/other')));
    expect(own.size).toBe(500);
    expect(upstream.some((line) => line.includes('deployment="mock/other"'))).toBe(true);
    expect(upstream.some((line) => line.includes('fail-404'))).toBe(false);
    expect(upstream.find((line) => line.includes('deployment="openai/other"'))).toMatch(/ 20$/);
    expect(series('gateway_deployment_in_flight').length).toBeLessThan(600);
    // The mock provider has no prices: each made-up model is an unpriced one, named up to 200.
    const unpriced = await eventually('the made-up models counted as unpriced', async () => {
      const lines = (await (await fetch(`${gateway.meteringOps}/metrics`)).text())
        .split('\n')
        .filter((line) => line.startsWith('gateway_metering_unpriced_requests_total{'));
      return lines.some((line) => line.includes('model="other"')) ? lines : undefined;
    });
    expect(unpriced.length).toBe(201);
    // A bad path id on the admin API is answered like any error.
    const longId = await fetch(`${gateway.adminUrl}/admin/keys/${'k'.repeat(300)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(longId.status).toBe(400);
    expect(longId.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('gives every answer a request id and an audit row: 400, 404, 405, 413, 415, and what the HTTP parser refuses', async () => {
    const { origin, host } = new URL(gateway.baseURL);
    const answers = [
      await post('/chat/completions', '{"model": "mock/echo", "messages": ['),
      await fetch(`${gateway.baseURL}/nope`, { headers: { authorization: `Bearer ${attacker.key}` } }),
      await fetch(`${origin}/mcp`, { method: 'DELETE' }),
      await fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' }),
    ];
    const statuses = [400, 404, 405, 415];
    const ids: string[] = [];
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(statuses[i]);
      ids.push(answer.headers.get('x-request-id')!);
    }
    // Over ingress.bodyLimitBytes (10 MiB): refused on its Content-Length, before the body comes (sent raw: the server closes on the rest of it).
    const tooLarge = await rawHttp(
      origin,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${attacker.key}\r\nContent-Type: application/json\r\nContent-Length: ${11 * 1024 * 1024}\r\n\r\n{"model":`,
    );
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body)).toMatchObject({ error: { code: 'request_too_large' } });
    ids.push(tooLarge.headers['x-request-id']!);
    statuses.push(413);
    const raw = [
      await rawHttp(origin, `GET /v1/models HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`),
      await rawHttp(
        origin,
        `POST /v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      ),
      await rawHttp(origin, `BREW /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
    ];
    expect(raw.map((r) => r.status)).toEqual([431, 400, 400]);
    for (const answer of raw) {
      expect(JSON.parse(answer.body)).toMatchObject({ error: { type: 'invalid_request_error', code: expect.any(String) } });
      ids.push(answer.headers['x-request-id']!);
    }
    expect(ids.every((id) => /^req_/.test(id))).toBe(true);
    const rows = await auditRows(ids);
    expect([...rows.values()].every((row) => row.event_type === 'request.rejected')).toBe(true);
    expect(ids.map((id) => rows.get(id)!.payload.request.httpStatus)).toEqual([...statuses, 431, 400, 400]);
  });

  it("answers a provider's malformed answer as a clean 502 in the client's shape, streamed or not", async () => {
    // Each its own deployment: a malformed answer is the provider's fault, and counts toward that deployment's circuit.
    for (const stream of [false, true]) {
      const refused = await post('/chat/completions', chat(`openai/malformed-${stream ? 'stream' : 'whole'}`, { stream }));
      expect(refused.status).toBe(502);
      const { error } = (await refused.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('upstream_error');
      expect(error.message).toContain('could not be read');
      expect(error.message).not.toMatch(/TypeError|Cannot read prop|undefined/);
    }
  });

  it('tells a client a provider is unreachable without its address, which the record keeps', async () => {
    const refused = await post('/chat/completions', chat('down/llama3'));
    expect(refused.status).toBe(502);
    const id = refused.headers.get('x-request-id')!;
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    expect(error).toEqual(expect.objectContaining({ code: 'upstream_unreachable', message: 'Provider down is unreachable.' }));
    const { rows } = await eventually('the attempts of the request on record', async () => {
      const found = await db.query<{ payload: { request: { attempts: { errorMessage: string }[] } } }>(
        'SELECT payload FROM audit_events WHERE request_id = $1',
        [id],
      );
      return found.rows.length ? found : undefined;
    });
    expect(rows[0]!.payload.request.attempts[0]!.errorMessage).toMatch(/^Provider down is unreachable\. \(.*ECONNREFUSED 127\.0\.0\.1:\d+/);
  });

  // In one process there is no call between services to fail.
  if (mode === 'split')
    it('tells a client a service is unavailable without naming where it runs', async () => {
      await gateway.stopGovernance!();
      try {
        const refused = await post('/chat/completions', chat('mock/echo'));
        expect(refused.status).toBe(503);
        const text = await refused.text();
        expect(text).toContain('did not answer');
        expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|:\d{4,5}\b/);
        expect(refused.headers.get('x-request-id')).toMatch(/^req_/);
      } finally {
        await gateway.startGovernance!();
      }
      // Ingress reconnects with backoff.
      await eventually('ingress to reach governance again', () =>
        bystander.models
          .list()
          .then(() => true)
          .catch(() => undefined),
      );
      await bystanderServed();
    });
});
