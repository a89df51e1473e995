import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { APIError } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

interface RecordedAttempt {
  deployment: string;
  reason: string;
  outcome: string;
  credential?: number;
  upstreamStatus?: number;
}

// Failover, retries, circuit breaking, credential rotation and stream failures,
// each checked in what the client saw and in what the audit log recorded.
describe('routing resilience, end to end', () => {
  let primary: FakeOpenAI;
  let backup: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let client: OpenAI;
  let key: string;
  let anthropic: Anthropic;
  let db: pg.Client;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    primary = await startFakeOpenAI({ apiKey: 'sk-good', rateLimitedKeys: ['sk-limited'] });
    backup = await startFakeOpenAI({ apiKey: 'sk-backup' });
    cleanup.push(
      infra.drop,
      () => primary.close(),
      () => backup.close(),
    );
    gateway = await startInProcess({
      nats: infra.nats,
      database: infra.database,
      routing: {
        providers: {
          primary: { type: 'openai', baseUrl: `${primary.url}/v1`, apiKeys: ['sk-limited', 'sk-good'] },
          flaky: { type: 'openai', baseUrl: `${primary.url}/v1`, apiKey: 'sk-good' },
          backup: { type: 'openai', baseUrl: `${backup.url}/v1`, apiKey: 'sk-backup' },
        },
        models: {
          resilient: {
            strategy: 'lowest-cost',
            deployments: [
              { id: 'primary-broken', provider: 'flaky', model: 'fail-503', inputCostPerMillion: 1 },
              { id: 'backup-ok', provider: 'backup', model: 'gpt-4o-mini', inputCostPerMillion: 5 },
            ],
          },
          rotating: { deployments: [{ provider: 'primary', model: 'gpt-4o-mini' }] },
          long: { deployments: [{ provider: 'backup', model: 'too-long' }], contextWindowFallbacks: ['backup/gpt-4o-large'] },
          guarded: { deployments: [{ provider: 'backup', model: 'refuse' }], contentPolicyFallbacks: ['backup/gpt-4o-mini'] },
          pinnable: {
            deployments: [
              { id: 'pinned-broken', provider: 'flaky', model: 'fail-503' },
              { id: 'pinnable-ok', provider: 'backup', model: 'gpt-4o-mini' },
            ],
            fallbacks: ['backup/gpt-4o-mini-fallback'],
          },
          stalling: {
            strategy: 'lowest-cost',
            deployments: [
              { id: 'stalled', provider: 'backup', model: 'stall-stream', inputCostPerMillion: 1 },
              { id: 'flowing', provider: 'backup', model: 'gpt-4o-mini', inputCostPerMillion: 2 },
            ],
          },
        },
        retry: { baseDelayMs: 10, maxDelayMs: 100 },
        circuitBreaker: { failureThreshold: 2, windowMs: 60_000, openMs: 60_000 },
        timeouts: { firstByteMs: 1_000 },
      },
    });
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    ({ key } = await gateway.createKey({ name: 'routing' }));
    client = gateway.client(key);
    anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
  });

  afterAll(async () => {
    await gateway?.stop();
    await db?.end();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  async function attemptsOf(requestId: string): Promise<RecordedAttempt[]> {
    return eventually(`the audit row of ${requestId}`, async () => {
      const { rows } = await db.query<{ payload: { request: { attempts?: RecordedAttempt[] } } }>('SELECT payload FROM audit_events WHERE request_id = $1', [
        requestId,
      ]);
      return rows[0] ? (rows[0].payload.request.attempts ?? []) : undefined;
    });
  }

  const brief = (attempts: RecordedAttempt[]) => attempts.map((a) => `${a.deployment} ${a.reason} ${a.outcome}`);
  const ask = (model: string, content = 'hello') => client.chat.completions.create({ model, messages: [{ role: 'user', content }] }).withResponse();

  it('retries a failing deployment, fails over to the next, and says which deployment served', async () => {
    const { data, response } = await ask('resilient');
    expect(data.choices[0]?.message.content).toBe('Fake OpenAI reply to: hello');
    expect(response.headers.get('x-gateway-deployment')).toBe('backup-ok');
    expect(response.headers.get('x-gateway-attempts')).toBe('3');
    expect(brief(await attemptsOf(response.headers.get('x-request-id')!))).toEqual([
      'primary-broken initial upstream_error',
      'primary-broken retry upstream_error',
      'backup-ok fallback ok',
    ]);
  });

  it("has opened the failing deployment's circuit: it is skipped, and health shows it", async () => {
    const health = (await (await fetch(`${gateway.opsUrl}/routing/deployments`)).json()) as { deployments: { id: string; circuit: string }[] };
    expect(health.deployments.find((d) => d.id === 'primary-broken')?.circuit).toBe('open');
    const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
    expect(metrics).toContain('gateway_deployment_circuit_state{deployment="primary-broken"} 2');
    const { response } = await ask('resilient');
    expect(brief(await attemptsOf(response.headers.get('x-request-id')!))).toEqual(['backup-ok initial ok']);
  });

  it("moves to the provider's next credential on 429, and leaves the limited one out afterwards", async () => {
    const before = primary.requests.length;
    const { response } = await ask('rotating');
    const first = await attemptsOf(response.headers.get('x-request-id')!);
    expect(first.map((a) => `${a.reason} ${a.outcome} #${a.credential ?? 0}`)).toEqual(['initial rate_limit_exceeded #0', 'credential_rotation ok #1']);
    expect(first[0]?.upstreamStatus).toBe(429);
    const again = await ask('rotating');
    expect((await attemptsOf(again.response.headers.get('x-request-id')!)).map((a) => a.credential ?? 0)).toEqual([1]);
    expect(primary.requests.slice(before).map((r) => r.authorization)).toEqual(['Bearer sk-limited', 'Bearer sk-good', 'Bearer sk-good']);
  });

  it("tries a pinned deployment first, then the group's fallbacks, and records every attempt", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'pinnable', messages: [{ role: 'user', content: 'pinned' }] }, { headers: { 'x-gateway-deployment': 'pinned-broken' } })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Fake OpenAI reply to: pinned');
    expect(response.headers.get('x-gateway-deployment')).toBe('backup/gpt-4o-mini-fallback');
    expect(brief(await attemptsOf(response.headers.get('x-request-id')!))).toEqual([
      'pinned-broken initial upstream_error',
      'pinned-broken retry upstream_error',
      'backup/gpt-4o-mini-fallback fallback ok',
    ]);
  });

  it('sends a prompt over the context window to the larger model, and a content-policy refusal to the fallback', async () => {
    const long = await ask('long');
    expect(brief(await attemptsOf(long.response.headers.get('x-request-id')!))).toEqual([
      'backup/too-long initial context_length_exceeded',
      'backup/gpt-4o-large context_window_fallback ok',
    ]);
    const guarded = await ask('guarded');
    expect(guarded.data.choices[0]?.finish_reason).toBe('stop');
    expect(brief(await attemptsOf(guarded.response.headers.get('x-request-id')!))).toEqual([
      'backup/refuse initial content_policy_violation',
      'backup/gpt-4o-mini content_policy_fallback ok',
    ]);
  });

  it('fails over a stream that stalls before its first byte', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'stalling', stream: true, messages: [{ role: 'user', content: 'stream on' }] })
      .withResponse();
    let text = '';
    for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Fake OpenAI reply to: stream on');
    expect(response.headers.get('x-gateway-deployment')).toBe('flowing');
    expect(brief(await attemptsOf(response.headers.get('x-request-id')!))).toEqual([
      'stalled initial upstream_timeout',
      'stalled retry upstream_timeout',
      'flowing fallback ok',
    ]);
  });

  it('ends a stream that breaks after it began with an error event, recorded as failed', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'backup/break-stream', stream: true, messages: [{ role: 'user', content: 'a b c d' }] })
      .withResponse();
    const received: string[] = [];
    const outcome = await (async () => {
      for await (const chunk of data) received.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(APIError);
    expect(received.length).toBeGreaterThan(0);
    const requestId = response.headers.get('x-request-id')!;
    const row = await eventually('the failed stream in the audit log', async () => {
      const { rows } = await db.query<{ event_type: string; payload: { request: { errorCode: string } } }>(
        'SELECT event_type, payload FROM audit_events WHERE request_id = $1',
        [requestId],
      );
      return rows[0];
    });
    expect(row.event_type).toBe('request.failed');
    expect(row.payload.request.errorCode).toBe('upstream_unreachable');
  });

  it("answers a provider answer it cannot read with a clean 502 in the client's own API, streamed or not", async () => {
    // Each case has a deployment of its own: two unreadable answers open a circuit here.
    const messages = [{ role: 'user' as const, content: 'hello' }];
    for (const [model, stream] of [
      ['backup/malformed', false],
      ['backup/malformed-stream', true],
    ] as const) {
      const error = await client.chat.completions.create({ model, stream, messages }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(APIError);
      expect(error).toMatchObject({ status: 502, type: 'api_error', code: 'upstream_error' });
      expect((error as APIError).message).toContain('Provider backup sent an answer that could not be read (choices is not an array)');
    }
    for (const [model, stream] of [
      ['backup/malformed-messages', false],
      ['backup/malformed-messages-stream', true],
    ] as const) {
      const error = await anthropic.messages.create({ model, stream, max_tokens: 50, messages }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.InternalServerError);
      expect((error as InstanceType<typeof Anthropic.InternalServerError>).status).toBe(502);
      expect((error as InstanceType<typeof Anthropic.InternalServerError>).error).toMatchObject({
        type: 'error',
        error: { type: 'api_error', message: expect.stringContaining('could not be read') as string },
      });
    }
  });

  it("returns the client's own mistakes at once, without retrying", async () => {
    const before = backup.requests.length;
    const error = await ask('backup/fail-400').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(backup.requests.length - before).toBe(1);
  });
});
