import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRICE_CATALOG } from '../../services/kit/pricing/catalog.js';
import { MAX_HOSTED_TOOL_CALLS } from '../../services/kit/pricing/units.js';
import { startFakeAzure, type FakeAzure } from '../fakes/azure.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const AZURE_KEY = 'azure-web-search-key';
const OPENAI_KEY = 'sk-openai-web-search';

// web_search on /v1/responses where the model's deployments are Azure OpenAI's (or Azure's and OpenAI's): sent to
// Azure's v1 Responses API (POST /openai/v1/responses, api-key, the deployment as the model), answered as Azure sent
// it, metered from its usage plus its search calls at the model's catalog price.
describe('web search served natively by Azure OpenAI', () => {
  let azure: FakeAzure;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    azure = await startFakeAzure({ apiKey: AZURE_KEY, deployments: ['my-gpt41'] });
    openaiFake = await startFakeOpenAI({ apiKey: OPENAI_KEY });
    gateway = await startInProcess({
      routing: {
        providers: {
          azure: { type: 'azure', endpoint: azure.url, apiKey: AZURE_KEY, deployments: { 'gpt-4.1': 'my-gpt41' } },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: OPENAI_KEY },
        },
        models: {
          'azure-searcher': { deployments: [{ provider: 'azure', model: 'gpt-4.1' }] },
          // Azure first, OpenAI behind it: both speak the Responses API, so the model still qualifies.
          'either-searcher': { deployments: [{ provider: 'azure', model: 'gpt-4.1' }], fallbacks: ['openai/gpt-4.1'] },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await azure?.close();
    await openaiFake?.close();
  });

  it("answers whole through Azure's v1 Responses API, metered with the search call", async () => {
    const { id, key } = await gateway.createKey({ name: 'azure-search' });
    const openai = gateway.client(key);
    const { data, response } = await openai.responses.create({ model: 'azure-searcher', input: 'Oslo news?', tools: [{ type: 'web_search' }] }).withResponse();
    expect(azure.requests.at(-1)).toMatchObject({ operation: 'responses', deployment: 'my-gpt41', apiKey: AZURE_KEY, apiVersion: null });
    expect(azure.requests.at(-1)!.body).toMatchObject({ model: 'my-gpt41', max_tool_calls: MAX_HOSTED_TOOL_CALLS, store: false });
    expect(data.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    expect(response.headers.get('x-gateway-provider')).toBe('azure');

    const usage = await eventually('the usage row', async () => {
      const rows = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const line = (await rows.text()).trim().split('\n').find(Boolean);
      return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
    });
    const price = PRICE_CATALOG['gpt-4.1']!;
    const tokens = (data.usage!.input_tokens * price.input + data.usage!.output_tokens * price.output) / 1e6;
    expect(usage).toMatchObject({ provider: 'azure', provider_model: 'gpt-4.1', billed_unit: 'web_search_call', billed_quantity: 1 });
    expect(Number(usage.cost_usd)).toBeCloseTo(tokens + price.webSearchCalls!.web_search!, 12);
  });

  it('streams through Azure, and serves a model whose deployments are Azure and OpenAI', async () => {
    const { key } = await gateway.createKey({ name: 'azure-stream' });
    const openai = gateway.client(key);
    const final = await openai.responses.stream({ model: 'either-searcher', input: 'Bergen weather?', tools: [{ type: 'web_search' }] }).finalResponse();
    expect(azure.requests.at(-1)!.body).toMatchObject({ model: 'my-gpt41', stream: true });
    expect(final.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    expect(final.output_text).toBe('Fake OpenAI response to: Bergen weather?');
  });
});
