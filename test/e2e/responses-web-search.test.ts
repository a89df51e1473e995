import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRICE_CATALOG } from '../../services/kit/pricing/catalog.js';
import { MAX_HOSTED_TOOL_CALLS } from '../../services/kit/pricing/units.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type Row = Record<string, unknown>;

const PROVIDER_KEY = 'sk-openai-web-search';

// The Responses API's web_search on /v1/responses, where every deployment the model reaches is OpenAI's: sent to
// OpenAI's own POST /v1/responses with the reserved output cap, answered as OpenAI sent it (web_search_call items,
// url_citation annotations), metered from its usage plus its search calls at the catalog's price, recorded once.
describe('web search served natively by OpenAI', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY }, mock: { type: 'mock', models: ['echo'] } },
        models: {
          searcher: { deployments: [{ provider: 'openai', model: 'gpt-4.1' }] },
          // Its fallback is a provider that runs no web search: the request cannot be served natively.
          mixed: { deployments: [{ provider: 'openai', model: 'gpt-4.1' }], fallbacks: ['mock/echo'] },
        },
      },
      guardrails: {
        policies: { contacts: { rules: [{ name: 'emails', detectors: ['email'], direction: 'request', action: 'redact' }] } },
        attach: { teams: { guarded: ['contacts'] } },
      },
    });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'metered', name: 'Metered' });
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'team', scope_id: 'metered', limit_usd: 1_000, period: 'month' });
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  async function caller(team = 'metered') {
    const { id, key } = await gateway.createKey({ name: `search-${team}`, team });
    return { id, openai: gateway.client(key) };
  }

  /** The key's ledger rows and the request's audit events, once written. */
  async function records(requestId: string, keyId: string, rows = 1) {
    const audit = await eventually('the audit rows', async () => {
      const page = await admin<{ data: { event_type: string }[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
      return page.data.length ? page.data.map((row) => row.event_type) : undefined;
    });
    const usage = await eventually('the usage rows', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const lines = (await response.text()).trim().split('\n').filter(Boolean);
      return lines.length >= rows ? lines.map((line) => JSON.parse(line) as Row) : undefined;
    });
    return { audit, usage };
  }

  /** What gpt-4.1 costs for these tokens and web search calls, at the catalog's prices. */
  function cost(usage: { input_tokens: number; output_tokens: number }, searches: number): number {
    const price = PRICE_CATALOG['gpt-4.1']!;
    return (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1e6 + searches * price.webSearchCalls!.web_search!;
  }

  it('answers whole with the web_search_call and the citations OpenAI sent, metered with the search call', async () => {
    const { id, openai } = await caller();
    const { data, response } = await openai.responses.create({ model: 'searcher', input: 'Oslo news?', tools: [{ type: 'web_search' }] }).withResponse();
    const seen = fake.requests.at(-1)!;
    // OpenAI's own Responses API was called (not chat), with the reserved cap and nothing OpenAI would keep.
    expect(seen).toMatchObject({ path: '/v1/responses', authorization: `Bearer ${PROVIDER_KEY}` });
    expect(seen.body).toMatchObject({
      model: 'gpt-4.1',
      tools: [{ type: 'web_search' }],
      max_output_tokens: 4_096,
      max_tool_calls: MAX_HOSTED_TOOL_CALLS,
      store: false,
    });
    expect(data.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    const text = data.output[1]?.type === 'message' ? data.output[1].content[0] : undefined;
    expect(text).toMatchObject({ annotations: [{ type: 'url_citation', url: expect.stringContaining('https://example.com/') }] });
    expect(response.headers.get('x-gateway-provider')).toBe('openai');

    const { audit, usage } = await records(response.headers.get('x-request-id')!, id);
    expect(audit).toEqual(['request.completed']);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({
      endpoint: 'responses',
      provider_model: 'gpt-4.1',
      prompt_tokens: data.usage!.input_tokens,
      completion_tokens: data.usage!.output_tokens,
      billed_unit: 'web_search_call',
      billed_quantity: 1,
      billed_variant: 'web_search',
      units_cost_usd: '0.010000000000',
    });
    expect(Number(usage[0]!.cost_usd)).toBeCloseTo(cost(data.usage!, 1), 12);
  });

  it('streams the search events and annotations as OpenAI sent them, metered from the completed response', async () => {
    const { id, openai } = await caller();
    const types: string[] = [];
    const stream = openai.responses.stream({ model: 'openai/gpt-4.1', input: 'Bergen weather?', tools: [{ type: 'web_search' }], max_output_tokens: 50 });
    stream.on('event', (event) => types.push(event.type));
    const final = await stream.finalResponse();
    expect(fake.requests.at(-1)!.body).toMatchObject({ stream: true, max_output_tokens: 50, max_tool_calls: MAX_HOSTED_TOOL_CALLS });
    expect(types.filter((type) => type.startsWith('response.web_search_call.'))).toEqual([
      'response.web_search_call.in_progress',
      'response.web_search_call.searching',
      'response.web_search_call.completed',
    ]);
    expect(types).toContain('response.output_text.annotation.added');
    expect(final.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    // Stored by the gateway before its last event reached the client.
    const stored = await openai.responses.retrieve(final.id);
    expect(stored.output.map((item) => item.id)).toEqual(final.output.map((item) => item.id));
    expect(stored.output_text).toBe(final.output_text);

    const { usage } = await records('', id);
    expect(usage[0]).toMatchObject({ stream: true, completion_tokens: final.usage!.output_tokens, billed_quantity: 1, units_cost_usd: '0.010000000000' });
    expect(Number(usage[0]!.cost_usd)).toBeCloseTo(cost(final.usage!, 1), 12);
  });

  it("stores the answer in the gateway, and continues it natively from the tenant's own copy", async () => {
    const { openai } = await caller();
    const first = await openai.responses.create({ model: 'searcher', input: 'Oslo news?', tools: [{ type: 'web_search' }] });
    expect((await openai.responses.retrieve(first.id)).output).toEqual(first.output);
    await openai.responses.create({ model: 'searcher', input: 'And Bergen?', tools: [{ type: 'web_search' }], previous_response_id: first.id });
    const sent = fake.requests.at(-1)!.body as { input: { type?: string; role?: string }[]; previous_response_id?: string };
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input.map((item) => item.type ?? item.role)).toEqual(['message', 'web_search_call', 'message', 'message']);
    // Continued without web search by a model served through chat: the search OpenAI ran is left out, its answer kept.
    const echoed = await openai.responses.create({ model: 'mock/echo', input: 'Thanks', previous_response_id: first.id });
    expect(echoed.status).toBe('completed');
  });

  it('reserves the search calls a request may make against its budget, as few as its own max_tool_calls', async () => {
    const { id, key } = await gateway.createKey({ name: 'small-budget' });
    // Its 4,096 output tokens cost $0.033 at most: room for one search call ($0.01) but not for ten.
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: 0.05, period: 'day' });
    const openai = gateway.client(key);
    const request = { model: 'searcher', input: 'Oslo news?', tools: [{ type: 'web_search' as const }] };
    const refused = await openai.responses.create(request).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');
    // max_tool_calls is OpenAI's (the Responses API reference); this SDK's types do not list it yet.
    const answered = await openai.responses.create({ ...request, max_tool_calls: 1 } as typeof request);
    expect(answered.output[0]?.type).toBe('web_search_call');
    expect(fake.requests.at(-1)!.body).toMatchObject({ max_tool_calls: 1 });
  });

  it('refuses web_search where a deployment or fallback is not OpenAI, naming the tool', async () => {
    const { openai } = await caller();
    for (const model of ['mock/echo', 'mixed']) {
      const before = fake.requests.length;
      const error = await openai.responses.create({ model, input: 'hi', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[0].type');
      expect((error as Error).message).toContain("the web_search tool runs on OpenAI's servers");
      expect(fake.requests.length).toBe(before);
    }
  });

  it('refuses what OpenAI would run unmetered alongside web search: another hosted tool, background responses', async () => {
    const { openai } = await caller();
    const before = fake.requests.length;
    const tools = [{ type: 'web_search' }, { type: 'code_interpreter', container: { type: 'auto' } }] as const;
    const hosted = await openai.responses.create({ model: 'searcher', input: 'hi', tools: [...tools] }).catch((e: unknown) => e);
    expect((hosted as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[1].type');
    expect((hosted as Error).message).toContain('code_interpreter');
    const background = await openai.responses.create({ model: 'searcher', input: 'hi', tools: [tools[0]], background: true }).catch((e: unknown) => e);
    expect(background).toBeInstanceOf(OpenAI.BadRequestError);
    expect((background as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('background');
    expect(fake.requests.length).toBe(before);
  });

  it('refuses a key under guardrail policies, which an answer OpenAI sends as it is would go around', async () => {
    const { openai } = await caller('guarded');
    const error = await openai.responses.create({ model: 'searcher', input: 'hi', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((error as Error).message).toContain('Guardrail policies apply to this key');
  });
});
