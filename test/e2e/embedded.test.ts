import OpenAI, { type APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGliteDatabase } from '../../services/kit/db/pglite.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PROVIDER_KEY = 'sk-fake-provider-secret-value';

// The embedded default: all services in one process, embedded PostgreSQL
// (PGlite), in-process bus. Nothing external is needed.
describe('embedded mode, called with the official openai client', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let key: string;
  let client: OpenAI;
  const completedIds: string[] = [];
  const failedIds: string[] = [];

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: {
        providers: {
          mock: { type: 'mock' },
          slow: { type: 'mock', latencyMs: 300 },
          openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, models: ['gpt-4o-mini'] },
        },
      },
      ingress: { bodyLimitBytes: 64 * 1024 },
    });
    ({ key } = await gateway.createKey({ name: 'embedded', team: 'team-a' }));
    client = gateway.client(key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  it('answers a chat completion from the mock provider', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'mock/echo', messages: [{ role: 'user', content: 'Hello gateway' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('This is a mock response to: Hello gateway');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-gateway-provider')).toBe('mock');
    completedIds.push(response.headers.get('x-request-id')!);
  });

  it('streams a chat completion, with usage only when the client asks for it', async () => {
    const withUsage = await client.chat.completions
      .create({ model: 'mock/echo', messages: [{ role: 'user', content: 'Stream me' }], stream: true, stream_options: { include_usage: true } })
      .withResponse();
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of withUsage.data) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('This is a mock response to: Stream me');
    expect(usage?.total_tokens).toBeGreaterThan(0);
    completedIds.push(withUsage.response.headers.get('x-request-id')!);

    const plain = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'again' }], stream: true }).withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of plain.data) chunks.push(chunk);
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    completedIds.push(plain.response.headers.get('x-request-id')!);
  });

  it('forwards to an OpenAI-compatible provider with the provider key, streaming included', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'via fake' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Fake OpenAI reply to: via fake');
    completedIds.push(response.headers.get('x-request-id')!);
    const last = fake.requests.at(-1)!;
    expect(last.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(last.body.model).toBe('gpt-4o-mini');

    const stream = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'stream via fake' }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream.data) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Fake OpenAI reply to: stream via fake');
    completedIds.push(stream.response.headers.get('x-request-id')!);
  });

  it('reports its own time per request, without the time the provider took, in a header and a metric', async () => {
    const PROVIDER_MS = 300;
    const started = performance.now();
    const whole = await client.chat.completions.create({ model: 'slow/echo', messages: [{ role: 'user', content: 'timed' }] }).withResponse();
    const wholeUs = (performance.now() - started) * 1000;
    const streamStarted = performance.now();
    const streamed = await client.chat.completions.create({ model: 'slow/echo', messages: [{ role: 'user', content: 'timed' }], stream: true }).withResponse();
    const streamUs = (performance.now() - streamStarted) * 1000;
    for await (const _ of streamed.data) void _;
    for (const [response, clientUs] of [
      [whole.response, wholeUs],
      [streamed.response, streamUs],
    ] as const) {
      const own = Number(response.headers.get('x-gateway-overhead-us'));
      expect(Number.isInteger(own) && own >= 0).toBe(true);
      // The provider's wait is not the gateway's: what is left is at most what the client waited, less the provider's delay.
      expect(own).toBeLessThanOrEqual(clientUs - PROVIDER_MS * 1000);
    }
    const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
    expect(Number(/^gateway_overhead_seconds_count\{endpoint="chat.completions"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  });

  it('listens with the largest accept queue the kernel allows, so a burst of new connections is not dropped', async () => {
    const port = new URL(gateway.baseURL).port;
    // ss shows a listening socket's accept queue as its Send-Q: Node.js's default is 511.
    const { stdout } = await promisify(execFile)('ss', ['-Hltn', `sport = :${port}`]);
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(Number(stdout.trim().split(/\s+/)[2])).toBe(Math.min(somaxconn, 65_535));
  });

  it('lists models and answers without the /v1 prefix', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(['mock/echo', 'openai/gpt-4o-mini']));
    const bare = new OpenAI({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
    const completion = await bare.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'no prefix' }] });
    expect(completion.choices[0]?.message.content).toBe('This is a mock response to: no prefix');
  });

  it('serves a repeated temperature-0 request from the cache', async () => {
    const ask = () => client.chat.completions.create({ model: 'mock/echo', temperature: 0, messages: [{ role: 'user', content: 'cache me' }] }).withResponse();
    const first = await ask();
    const second = await ask();
    expect(first.response.headers.get('x-gateway-cache')).toBe('miss');
    expect(second.response.headers.get('x-gateway-cache')).toBe('hit');
    expect(second.data.choices[0]?.message.content).toBe(first.data.choices[0]?.message.content);
    completedIds.push(first.response.headers.get('x-request-id')!, second.response.headers.get('x-request-id')!);
  });

  it('rejects an unknown key with 401 in the OpenAI error shape', async () => {
    const stranger = gateway.client('sk-gw-not-a-real-key');
    const err = await stranger.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as APIError).code).toBe('invalid_api_key');
    const body = JSON.stringify({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] });
    const missing = await fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('missing_api_key');
  });

  it('stops an old key value at once when the key is rotated', async () => {
    const { id, key: old } = await gateway.createKey({ name: 'rotating' });
    const rotated = (await (
      await fetch(`${gateway.adminUrl}/admin/keys/${id}/rotate`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { key: string; id: string };
    expect(rotated.id).toBe(id);
    const stale = await gateway
      .client(old)
      .models.list()
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await gateway.client(rotated.key).models.list()).data.length).toBeGreaterThan(0);
  });

  it('rejects a revoked key', async () => {
    const { id, key: doomed } = await gateway.createKey({ name: 'doomed' });
    await fetch(`${gateway.adminUrl}/admin/keys/${id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const err = await gateway
      .client(doomed)
      .chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as APIError).message).toContain('revoked');
  });

  it('answers bad requests with the right status and the OpenAI error shape', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${gateway.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
        body,
      });
    const cases: [Response, number, string][] = [
      [await post('{"model": "mock/echo", "messages": ['), 400, 'invalid_json'],
      [await post('{"model": "mock/echo"}'), 400, 'invalid_request'],
      [await post(JSON.stringify({ model: 'mock/echo', messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] })), 413, 'request_too_large'],
      [await post('model=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type'],
      [await fetch(`${gateway.baseURL}/nope`, { headers: { authorization: `Bearer ${key}` } }), 404, 'not_found'],
    ];
    for (const [response, status, code] of cases) {
      expect(response.status).toBe(status);
      const body = (await response.json()) as { error: { message: string; type: string; code: string } };
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(0);
      expect(typeof body.error.type).toBe('string');
    }
    const missingMessages = await client.chat.completions.create({ model: 'mock/echo' } as never).catch((e: unknown) => e);
    expect(missingMessages).toBeInstanceOf(OpenAI.BadRequestError);
    expect((missingMessages as APIError).param).toBe('messages');
  });

  it('maps unknown models and provider failures to clear errors', async () => {
    const unknown = await client.chat.completions.create({ model: 'nowhere/model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as APIError).message).toContain('nowhere/model');

    const failed = await client.chat.completions
      .create({ model: 'openai/fail-500', messages: [{ role: 'user', content: 'x' }] })
      .withResponse()
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.APIError);
    expect((failed as APIError).status).toBe(502);
    failedIds.push((failed as APIError).headers!.get('x-request-id')!);

    const badParam = await client.chat.completions.create({ model: 'openai/fail-400', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(badParam).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badParam as APIError).message).toContain("Invalid value for 'temperature'");
  });

  it('ends a stream that breaks mid-way with an error the client sees', async () => {
    const stream = await client.chat.completions.create({ model: 'openai/break-stream', messages: [{ role: 'user', content: 'x y z' }], stream: true });
    const received: string[] = [];
    const outcome = await (async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(OpenAI.APIError);
    expect(received.length).toBeGreaterThan(0);
  });

  it('keeps other commands out of its embedded database while it runs, naming the process that holds it', async () => {
    const verify = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'services/gateway/cli.ts', 'audit', 'verify'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, GATEWAY_CONFIG: '', GATEWAY_DATABASE__URL: '', GATEWAY_DATA_DIR: gateway.dataDir },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain(`is in use by process ${process.pid} (a running gateway or gateway command): stop it first`);
  });

  it('records one audit row and one usage row per request, in the embedded database', async () => {
    // Stopping drains the consumers; the rows must then be in the data folder.
    await gateway.stop();
    const db = await PGliteDatabase.open(join(gateway.dataDir, 'pg'));
    try {
      const audit = await db.query<{ request_id: string; n: number; types: string }>(
        `SELECT request_id, count(*)::int AS n, string_agg(event_type, ',') AS types FROM audit_events WHERE request_id = ANY($1) GROUP BY request_id`,
        [[...completedIds, ...failedIds]],
      );
      expect(audit.rows).toHaveLength(completedIds.length + failedIds.length);
      expect(audit.rows.every((r) => r.n === 1)).toBe(true);
      const usage = await db.query<{ request_id: string; outcome: string; total_tokens: number; cache_hit: boolean }>(
        'SELECT request_id, outcome, total_tokens, cache_hit FROM usage_records WHERE request_id = ANY($1)',
        [[...completedIds, ...failedIds]],
      );
      expect(usage.rows).toHaveLength(completedIds.length + failedIds.length);
      expect(usage.rows.filter((r) => r.outcome === 'completed').every((r) => r.total_tokens > 0)).toBe(true);
      expect(usage.rows.filter((r) => r.cache_hit)).toHaveLength(1);
      const rejected = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'request.rejected'`);
      expect(rejected.rows[0]!.n).toBeGreaterThanOrEqual(3);
      const keyEvents = await db.query<{ payload: { admin: { afterJson: string } } }>(`SELECT payload FROM audit_events WHERE event_type LIKE 'admin.%'`);
      expect(keyEvents.rows.length).toBeGreaterThanOrEqual(3);
      expect(JSON.stringify(keyEvents.rows)).not.toContain(key);
    } finally {
      await db.close();
    }
  });
});
