import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-cache-replicas';

// Two caching replicas, each its own process (ingress i asks caching i),
// sharing entries through PostgreSQL.
describe('response cache across replicas', () => {
  let gateway: SplitGateway;
  let fake: FakeOpenAI;
  const clients: OpenAI[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  let question = 0;

  beforeAll(async () => {
    const infra = await isolatedInfra();
    cleanup.push(infra.drop);
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startSplit(
      {
        nats: infra.nats,
        database: infra.database,
        routing: {
          providers: { mock: { type: 'mock' }, openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, models: ['gpt-4o-mini'] } },
        },
        // On a loaded test machine a store can take longer than the default 2 s deadline, and a store that times out is
        // (rightly) dropped, which this test would read as not shared.
        caching: { syncIntervalMs: 200, callTimeoutMs: 10_000, semantic: { enabled: true, embeddingModel: 'mock/embed', threshold: 0.85 } },
      },
      { caching: 2, ingress: 2 },
    );
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'support', name: 'Support' });
    const { key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'support-bot', team: 'support' });
    for (const baseURL of gateway.ingressURLs) clients.push(new OpenAI({ baseURL, apiKey: key, maxRetries: 0 }));
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  const fresh = () => ({ model: 'openai/gpt-4o-mini', temperature: 0, messages: [{ role: 'user' as const, content: `shared question ${++question}` }] });
  const upstreamCalls = () => fake.requests.filter((r) => r.path === '/v1/chat/completions').length;

  /** The answer from the cache only (Cache-Control: only-if-cached), or the 504 that says there is none. */
  async function cachedOnly(client: OpenAI, body: ReturnType<typeof fresh>) {
    try {
      const { data, response } = await client.chat.completions.create(body, { headers: { 'cache-control': 'only-if-cached' } }).withResponse();
      return { text: data.choices[0]!.message.content, entry: response.headers.get('x-gateway-cache-entry') };
    } catch (err) {
      if (err instanceof APIError && err.status === 504) return undefined;
      throw err;
    }
  }

  it('serves an answer stored through one replica from the other, without asking the provider again', async () => {
    const body = fresh();
    const first = await clients[0]!.chat.completions.create(body);
    const calls = upstreamCalls();
    expect(await cachedOnly(clients[1]!, fresh())).toBeUndefined();
    const shared = await eventually('the other replica to have the entry', () => cachedOnly(clients[1]!, body));
    expect(shared.text).toBe(first.choices[0]!.message.content);
    expect(upstreamCalls()).toBe(calls);
  });

  it('lists entries for operators, and a purge through the admin API reaches both replicas', async () => {
    const body = fresh();
    await clients[0]!.chat.completions.create(body);
    const hit = await eventually(
      'both replicas to have the entry',
      async () => ((await cachedOnly(clients[0]!, body)) && (await cachedOnly(clients[1]!, body))) ?? undefined,
    );
    const listed = await admin<{ data: { id: string; namespace: string; model: string; key_id: string }[] }>(
      gateway.adminUrl,
      'GET',
      '/admin/cache/entries?namespace=team:support',
    );
    expect(listed.data.find((e) => e.id === hit.entry)).toMatchObject({
      namespace: 'team:support',
      model: 'openai/gpt-4o-mini',
      key_id: expect.stringMatching(/^vk_/),
    });
    expect(JSON.stringify(listed)).not.toContain('Fake OpenAI reply');

    const { purged } = await admin<{ purged: number }>(gateway.adminUrl, 'DELETE', '/admin/cache/entries?namespace=team:support');
    expect(purged).toBeGreaterThanOrEqual(2);
    await eventually('the purge on both replicas', async () =>
      (await cachedOnly(clients[0]!, body)) === undefined && (await cachedOnly(clients[1]!, body)) === undefined ? true : undefined,
    );
  });

  it('finds a paraphrase of a question another replica stored (the embedding travels with the entry)', async () => {
    const first = await clients[0]!.chat.completions.create({ ...fresh(), messages: [{ role: 'user', content: 'What is the tallest mountain on Earth?' }] });
    const calls = upstreamCalls();
    const paraphrase = { ...fresh(), messages: [{ role: 'user' as const, content: 'what is the tallest mountain on earth' }] };
    const hit = await eventually('a semantic hit on the other replica', () => cachedOnly(clients[1]!, paraphrase));
    expect(hit.text).toBe(first.choices[0]!.message.content);
    expect(upstreamCalls()).toBe(calls);
  });

  it('keeps entries when a caching replica restarts', async () => {
    const body = fresh();
    const first = await clients[0]!.chat.completions.create(body);
    await eventually('the entry shared', () => cachedOnly(clients[1]!, body));
    await gateway.restart('caching');
    const after = await cachedOnly(clients[0]!, body);
    expect(after?.text).toBe(first.choices[0]!.message.content);
  });
});
