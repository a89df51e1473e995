import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

// LLM calls are slow, so a gateway's load is many calls waiting on providers at
// once: nothing in the gateway may hold them back below what the provider
// takes, and a cap an operator sets makes its queue visible.

const PROVIDER_KEY = 'sk-fake-concurrency-provider-6161';

async function queuedCalls(opsUrl: string, provider: string): Promise<number | undefined> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const match = new RegExp(`^gateway_provider_calls\\{provider="${provider}",state="queued"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

describe('calls in flight to a provider', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let key: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: {
        providers: {
          open: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY },
          capped: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, maxConnections: 10 },
        },
      },
    });
    ({ key } = await gateway.createKey({ name: 'concurrency' }));
  });

  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  const send = (model: string, n: number) =>
    Array.from({ length: n }, (_, i) =>
      gateway.client(key).chat.completions.create({ model, messages: [{ role: 'user', content: `call ${i}` }] }, { maxRetries: 0, timeout: 60_000 }),
    );

  it('sends 300 calls to the provider at once by default: none waits in the gateway', async () => {
    const release = fake.holdAnswers();
    const calls = send('open/gpt-4o-mini', 300);
    await eventually('all 300 calls at the provider at once', async () => (fake.concurrency.now === 300 ? true : undefined), 60_000);
    expect(await queuedCalls(gateway.opsUrl, 'open')).toBe(0);
    release();
    const answers = await Promise.all(calls);
    expect(answers.every((a) => a.choices[0]?.finish_reason === 'stop')).toBe(true);
  });

  it("holds calls past an operator's maxConnections in a queue that /metrics shows, and answers them all", async () => {
    fake.concurrency.most = 0;
    const release = fake.holdAnswers();
    const calls = send('capped/gpt-4o-mini', 40);
    await eventually('the cap reached, the rest queued', async () =>
      fake.concurrency.now === 10 && (await queuedCalls(gateway.opsUrl, 'capped')) === 30 ? true : undefined,
    );
    release();
    const answers = await Promise.all(calls);
    expect(answers).toHaveLength(40);
    expect(fake.concurrency.most).toBe(10);
    expect(await queuedCalls(gateway.opsUrl, 'capped')).toBe(0);
  });
});
