import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-semantic-tests';

// Semantic caching end to end. Questions are embedded by the mock provider's
// deterministic bag-of-words embedding (mock/embed), so questions sharing most
// words are close and others are not; answers come from a fake OpenAI that
// counts what reaches it.
describe('semantic cache', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let search: OpenAI;
  let searchKeyId: string;
  let billing: OpenAI;
  let teammate: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' }, openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, models: ['gpt-4o-mini'] } } },
      caching: { semantic: { enabled: true, embeddingModel: 'mock/embed', threshold: 0.85 } },
    });
    const created = await gateway.createKey({ name: 'search-bot', team: 'search' });
    search = gateway.client(created.key);
    searchKeyId = created.id;
    billing = gateway.client((await gateway.createKey({ name: 'billing-bot', team: 'billing' })).key);
    teammate = gateway.client((await gateway.createKey({ name: 'search-intern', team: 'search' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  const upstreamCalls = () => fake.requests.length;
  type Turn = { role: 'user' | 'assistant'; content: string };
  const chat = (content: string, extra: Record<string, unknown> = {}, before: Turn[] = []) => ({
    model: 'openai/gpt-4o-mini',
    temperature: 0,
    messages: [...before, { role: 'user' as const, content }],
    ...extra,
  });

  async function ask(client: OpenAI, body: ReturnType<typeof chat>, headers: Record<string, string> = {}) {
    const { data, response } = await client.chat.completions.create(body, { headers }).withResponse();
    const h = (name: string) => response.headers.get(name);
    return {
      text: data.choices[0]!.message.content,
      cache: h('x-gateway-cache'),
      match: h('x-gateway-cache-match'),
      similarity: Number(h('x-gateway-cache-similarity')),
      requestId: h('x-request-id')!,
    };
  }

  it('answers a paraphrase above the threshold from the cache, and an unrelated question from the provider', async () => {
    const first = await ask(search, chat('What is the capital city of France?'));
    expect(first.cache).toBe('miss');
    const calls = upstreamCalls();
    const paraphrase = await ask(search, chat('what is the capital of france'));
    expect(paraphrase).toMatchObject({ cache: 'hit', match: 'semantic', text: first.text });
    expect(paraphrase.similarity).toBeGreaterThanOrEqual(0.85);
    expect(paraphrase.similarity).toBeLessThan(1);
    expect(upstreamCalls()).toBe(calls);

    const unrelated = await ask(search, chat('Which river flows through Paris?'));
    expect(unrelated.cache).toBe('miss');
    expect(upstreamCalls()).toBe(calls + 1);
  });

  it('misses below a threshold the request raises, and across models, parameters and teams', async () => {
    await ask(search, chat('How many moons does Mars have today?'));
    const calls = upstreamCalls();
    expect((await ask(search, chat('how many moons does mars have'), { 'x-gateway-cache-threshold': '0.99' })).cache).toBe('miss');
    expect((await ask(search, chat('how many moons does mars have today', { max_tokens: 50 }))).cache).toBe('miss');
    expect((await ask(billing, chat('how many moons does mars have today'))).cache).toBe('miss');
    expect(upstreamCalls()).toBe(calls + 3);
    expect((await ask(search, chat('how many moons does mars have today'))).match).toBe('semantic');
  });

  it('never answers a "yes" with the answer to a "yes" in another conversation, and still knows a paraphrase in the same one', async () => {
    const deleting: Turn[] = [
      { role: 'user', content: 'Shall I delete the production database?' },
      { role: 'assistant', content: 'Are you sure?' },
    ];
    const summing: Turn[] = [
      { role: 'user', content: 'Do you want a summary of the report?' },
      { role: 'assistant', content: 'Shall I write one?' },
    ];
    expect((await ask(search, chat('yes, delete it now', {}, deleting))).cache).toBe('miss');
    const calls = upstreamCalls();
    expect((await ask(search, chat('yes, delete it now', {}, summing))).cache).toBe('miss');
    expect(upstreamCalls()).toBe(calls + 1);
    expect(await ask(search, chat('yes delete it now please', {}, deleting))).toMatchObject({ cache: 'hit', match: 'semantic' });
    expect(upstreamCalls()).toBe(calls + 1);
  });

  it("holds every request to the operator's floor, so only-if-cached cannot fish a teammate's answers with vague questions", async () => {
    await ask(search, chat('Tell me the secret launch code for project apollo'));
    // 0.75 similar: a hit at the 0.5 the request asks for, a miss at the floor (the configured 0.85).
    const fishing = await ask(teammate, chat('tell me the code'), { 'x-gateway-cache-threshold': '0.5', 'cache-control': 'only-if-cached' }).catch(
      (e: unknown) => e,
    );
    expect(fishing).toMatchObject({ status: 504, code: 'not_cached' });
  });

  it('replays a semantic hit as a stream', async () => {
    const first = await ask(search, chat('Tell me the boiling point of water at sea level'));
    const stream = await search.chat.completions.create({ ...chat('tell me the boiling point of water at sea level please'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(first.text);
  });

  it("records each embedding call as a request of the caller's key, priced into its spend", async () => {
    const asked = await ask(search, chat('What colour is the sky on a clear day?'));
    const row = await eventually('the embedding call in the ledger', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${searchKeyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const rows = (await response.text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { request_id: string; endpoint: string; model: string; provider: string; total_tokens: number });
      return rows.find((r) => r.request_id === `${asked.requestId}.embedding`);
    });
    expect(row).toMatchObject({ endpoint: 'embeddings', model: 'mock/embed', provider: 'mock' });
    expect(Number(row.total_tokens)).toBeGreaterThan(0);
  });
});
