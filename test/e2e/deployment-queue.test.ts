import type OpenAI from 'openai';
import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

// An operator's cap on a deployment's calls in flight: calls past it go to a
// deployment with room, or wait in the gateway where /metrics and the answer's
// x-gateway-queued-ms show it. The fake holds its answers, so what is in
// flight and what waits is set by the test, not by timing.

const PROVIDER_KEY = 'sk-fake-deployment-queue-7272';

async function metric(opsUrl: string, name: string, deployment: string): Promise<number | undefined> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const match = new RegExp(`^${name}\\{deployment="${deployment}"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

describe('a deployment with maxInFlight', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: {
        providers: { open: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
        models: {
          capped: { deployments: [{ id: 'capped-two', provider: 'open', model: 'queue-capped', maxInFlight: 2 }] },
          spill: {
            strategy: 'lowest-cost',
            deployments: [
              { id: 'small', provider: 'open', model: 'spill-small', maxInFlight: 1, inputCostPerMillion: 1 },
              { id: 'large', provider: 'open', model: 'spill-large', inputCostPerMillion: 2 },
            ],
          },
          brief: { deployments: [{ id: 'brief-wait', provider: 'open', model: 'queue-brief', maxInFlight: 1, queueTimeoutMs: 200 }] },
          leaving: { deployments: [{ id: 'left', provider: 'open', model: 'queue-left', maxInFlight: 1 }] },
        },
      },
    });
    client = gateway.client((await gateway.createKey({ name: 'queue' })).key);
  });

  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  const ask = (model: string, signal?: AbortSignal) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }, { maxRetries: 0, timeout: 60_000, signal }).withResponse();
  const reached = (model: string) => fake.requests.filter((r) => r.body.model === model).length;

  it('lets 2 of 6 calls reach the provider at once, shows 4 queued, and answers all with the time they waited', async () => {
    fake.concurrency.most = 0;
    const release = fake.holdAnswers();
    const calls = Array.from({ length: 6 }, () => ask('capped'));
    await eventually('2 calls at the provider, 4 queued', async () =>
      reached('queue-capped') === 2 && (await metric(gateway.opsUrl, 'gateway_deployment_queued_calls', 'capped-two')) === 4 ? true : undefined,
    );
    release();
    const answers = await Promise.all(calls);
    expect(answers.map((a) => a.data.choices[0]?.finish_reason)).toEqual(Array(6).fill('stop'));
    expect(fake.concurrency.most).toBe(2);
    const waited = answers.map((a) => Number(a.response.headers.get('x-gateway-queued-ms') ?? 0));
    expect(waited.filter((ms) => ms > 0)).toHaveLength(4);
    expect(await metric(gateway.opsUrl, 'gateway_deployment_queued_calls', 'capped-two')).toBe(0);
    expect(await metric(gateway.opsUrl, 'gateway_deployment_queue_seconds_count', 'capped-two')).toBe(4);
  });

  it('sends calls past one deployment’s cap to another deployment of the group rather than queue them', async () => {
    const release = fake.holdAnswers();
    const calls = Array.from({ length: 3 }, () => ask('spill'));
    await eventually('every call at the provider', async () => (reached('spill-small') + reached('spill-large') === 3 ? true : undefined));
    expect([reached('spill-small'), reached('spill-large')]).toEqual([1, 2]);
    expect(await metric(gateway.opsUrl, 'gateway_deployment_queued_calls', 'small')).toBe(0);
    release();
    const answers = await Promise.all(calls);
    expect(answers.map((a) => a.response.headers.get('x-gateway-deployment')).sort()).toEqual(['large', 'large', 'small']);
    expect(answers.every((a) => a.response.headers.get('x-gateway-queued-ms') === null)).toBe(true);
  });

  it('answers 503 overloaded once a call waited queueTimeoutMs, with the wait on record as an attempt', async () => {
    const release = fake.holdAnswers();
    const first = ask('brief');
    await eventually('the first call at the provider', async () => (reached('queue-brief') === 1 ? true : undefined));
    const error = await ask('brief').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(503);
    expect((error as APIError).code).toBe('overloaded');
    const requestId = (error as APIError).headers?.get('x-request-id');
    const attempts = await eventually('the audit record', async () => {
      const page = await admin<{ data: { payload: { request?: { attempts?: { deployment: string; outcome: string }[] } } }[] }>(
        gateway.adminUrl,
        'GET',
        `/admin/audit/events?request_id=${requestId}`,
      );
      return page.data[0]?.payload.request?.attempts;
    });
    expect(attempts.map((a) => `${a.deployment} ${a.outcome}`)).toEqual(['brief-wait overloaded']);
    release();
    expect((await first).data.choices[0]?.finish_reason).toBe('stop');
    expect(reached('queue-brief')).toBe(1);
  });

  it('drops a queued call whose client hung up: the provider never gets it, and its slot is not lost', async () => {
    const release = fake.holdAnswers();
    const first = ask('leaving');
    await eventually('the first call at the provider', async () => (reached('queue-left') === 1 ? true : undefined));
    const hangUp = new AbortController();
    const gone = ask('leaving', hangUp.signal).catch((err: unknown) => err);
    await eventually('the second call queued', async () =>
      (await metric(gateway.opsUrl, 'gateway_deployment_queued_calls', 'left')) === 1 ? true : undefined,
    );
    hangUp.abort();
    await gone;
    await eventually('the queue empty', async () => ((await metric(gateway.opsUrl, 'gateway_deployment_queued_calls', 'left')) === 0 ? true : undefined));
    release();
    await first;
    expect(reached('queue-left')).toBe(1);
    expect((await ask('leaving')).response.headers.get('x-gateway-queued-ms')).toBeNull();
    expect(reached('queue-left')).toBe(2);
  });

  it('tells a stream that waited for a slot how long, in its headers', async () => {
    const before = reached('queue-left');
    const release = fake.holdAnswers();
    const first = ask('leaving');
    await eventually('the first call at the provider', async () => (reached('queue-left') === before + 1 ? true : undefined));
    const stream = client.chat.completions
      .create({ model: 'leaving', messages: [{ role: 'user', content: 'hi' }], stream: true }, { maxRetries: 0, timeout: 60_000 })
      .withResponse();
    await eventually('the stream queued', async () => ((await metric(gateway.opsUrl, 'gateway_deployment_queued_calls', 'left')) === 1 ? true : undefined));
    release();
    await first;
    const { data, response } = await stream;
    expect(Number(response.headers.get('x-gateway-queued-ms'))).toBeGreaterThan(0);
    let text = '';
    for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).not.toBe('');
  });
});
