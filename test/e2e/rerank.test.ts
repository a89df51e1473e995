import { CohereClientV2, CohereError } from 'cohere-ai';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCohere, type FakeCohere } from '../fakes/cohere.js';
import { COMPATIBLE_PROFILES } from '../fakes/compatible.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const DOCUMENTS = ['Berlin is big', 'Paris is the capital of France', 'France has wine'];

interface Ranked {
  results: { index: number; relevance_score: number }[];
  meta: { billed_units: { search_units: number } };
}

// POST /v1/rerank in Cohere's shape (and /v2/rerank, where Cohere's SDK sends it): to Cohere, or to vLLM's Jina-shaped
// /rerank answered in Cohere's shape; billed per search unit, audited and recorded once.
describe('rerank through the gateway', () => {
  let cohereFake: FakeCohere;
  let vllmFake: FakeOpenAI;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    cohereFake = await startFakeCohere({ apiKey: 'co-key' });
    vllmFake = await startFakeOpenAI({ apiKey: 'unused', profile: COMPATIBLE_PROFILES.vllm });
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    gateway = await startInProcess({
      routing: {
        providers: {
          cohere: { type: 'cohere', baseUrl: cohereFake.url, apiKey: 'co-key' },
          vllm: { type: 'vllm', baseUrl: `${vllmFake.url}/v1` },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
        },
      },
      pricing: { models: { 'vllm/BAAI/bge-reranker-base': { input: 0, output: 0, searchUnit: 0.0005 } } },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await cohereFake?.close();
    await vllmFake?.close();
    await openaiFake?.close();
  });

  async function key(budgetUsd?: number) {
    const { id, key } = await gateway.createKey({ name: 'ranker' });
    if (budgetUsd !== undefined) await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: budgetUsd, period: 'day' });
    return { id, key, openai: gateway.client(key) };
  }

  async function records(requestId: string, keyId: string) {
    const audit = await eventually('the audit row', async () => {
      const page = await admin<{ data: { event_type: string }[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
      return page.data.length ? page.data.map((row) => row.event_type) : undefined;
    });
    const usage = await eventually('the usage row', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const text = (await response.text()).trim();
      return text ? text.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) : undefined;
    });
    return { audit, usage };
  }

  it("reranks at Cohere with Cohere's SDK, billed $0.002 a search unit, recorded once", async () => {
    const { id, key: apiKey } = await key();
    const cohere = new CohereClientV2({ token: apiKey, environment: gateway.baseURL.replace(/\/v1$/, ''), maxRetries: 0 });
    const { data, rawResponse } = await cohere
      .rerank({ model: 'cohere/rerank-v3.5', query: 'capital of France', documents: DOCUMENTS, topN: 2 })
      .withRawResponse();
    expect(cohereFake.requests.at(-1)).toMatchObject({ path: '/v2/rerank', body: { model: 'rerank-v3.5', top_n: 2, documents: DOCUMENTS } });
    expect(data.results).toEqual([
      { index: 1, relevanceScore: 1 },
      { index: 2, relevanceScore: 0.3333 },
    ]);
    expect(data.meta?.billedUnits?.searchUnits).toBe(1);
    const { audit, usage } = await records(rawResponse.headers.get('x-request-id')!, id);
    expect(audit).toEqual(['request.completed']);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({
      endpoint: 'rerank',
      billed_unit: 'search_unit',
      billed_quantity: 1,
      cost_usd: '0.002000000000',
      units_cost_usd: '0.002000000000',
    });
  });

  it("reranks at vLLM through /v1/rerank, its Jina-shaped answer in Cohere's shape, search units counted per 100 documents", async () => {
    const { id, openai } = await key();
    const documents = [...DOCUMENTS, ...Array.from({ length: 120 }, (_, i) => `filler ${i}`)];
    const ranked = await openai.post<Ranked>('/rerank', { body: { model: 'vllm/BAAI/bge-reranker-base', query: 'capital of France', documents, top_n: 1 } });
    expect(vllmFake.requests.at(-1)).toMatchObject({ path: '/v1/rerank', body: { model: 'BAAI/bge-reranker-base', top_n: 1 } });
    expect(ranked).toMatchObject({ results: [{ index: 1, relevance_score: 1 }], meta: { billed_units: { search_units: 2 } } });
    const { usage } = await records('', id);
    expect(usage[0]).toMatchObject({ endpoint: 'rerank', billed_quantity: 2, cost_usd: '0.001000000000' });
  });

  it('reserves the search units asked for against budgets', async () => {
    const { openai } = await key(0.003);
    const body = { model: 'cohere/rerank-v3.5', query: 'x', documents: Array.from({ length: 150 }, () => 'x') };
    const refused = await openai.post('/rerank', { body }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 402, code: 'budget_exceeded' });
    await openai.post('/rerank', { body: { ...body, documents: ['x'] } });
  });

  it('refuses a model none of whose providers reranks, and bad input, in OpenAI shape', async () => {
    const { openai, key: apiKey } = await key();
    const refused = (await openai
      .post('/rerank', { body: { model: 'openai/gpt-4o-mini', query: 'q', documents: ['d'] } })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused.status).toBe(400);
    expect(refused.error).toMatchObject({
      param: 'model',
      message: 'The model `openai/gpt-4o-mini` has no rerank endpoint: none of its providers (openai (openai)) offers /v1/rerank.',
    });
    const empty = (await openai.post('/rerank', { body: { model: 'cohere/rerank-v3.5', query: 'q', documents: [] } }).catch((e: unknown) => e)) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(empty.error).toMatchObject({ param: 'documents' });
    const cohere = new CohereClientV2({ token: apiKey, environment: gateway.baseURL.replace(/\/v1$/, ''), maxRetries: 0 });
    const noneWanted = await cohere.rerank({ model: 'cohere/rerank-v3.5', query: 'q', documents: ['d'], topN: 0 }).catch((e: unknown) => e);
    expect(noneWanted).toBeInstanceOf(CohereError);
    expect((noneWanted as CohereError).statusCode).toBe(400);
    expect(JSON.stringify((noneWanted as CohereError).body)).toContain("Invalid 'top_n'");
  });
});
