import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRICE_CATALOG } from '../../services/kit/pricing/catalog.js';
import { MAX_HOSTED_TOOL_CALLS } from '../../services/kit/pricing/units.js';
import { startFakeAzure, type FakeAzure } from '../fakes/azure.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type Row = Record<string, unknown>;

const PROVIDER_KEY = 'sk-openai-images';
/** gpt-image-1's low-quality square image, overridden in the gateway's pricing: the override is what is billed. */
const LOW_SQUARE_USD = 0.02;

// The Responses API's image_generation tool on /v1/responses, where every deployment the model reaches is OpenAI's:
// sent to OpenAI's own POST /v1/responses with its tool calls capped, answered as OpenAI sent it (image_generation_call
// items, the image as base64), metered from its usage plus its images at gpt-image-1's per-image price.
describe('image generation served natively by OpenAI', () => {
  let fake: FakeOpenAI;
  let azure: FakeAzure;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    azure = await startFakeAzure({ apiKey: 'azure-key', deployments: ['gpt-4.1'] });
    gateway = await startInProcess({
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY },
          azure: { type: 'azure', endpoint: azure.url, apiKey: 'azure-key' },
          mock: { type: 'mock', models: ['echo'] },
        },
        models: {
          painter: { deployments: [{ provider: 'openai', model: 'gpt-4.1' }] },
          // Azure's Responses API does not stream image generation: a model reaching it is not served natively.
          'azure-painter': { deployments: [{ provider: 'azure', model: 'gpt-4.1' }] },
        },
      },
      pricing: {
        models: { 'gpt-image-1': { ...PRICE_CATALOG['gpt-image-1']!, images: { ...PRICE_CATALOG['gpt-image-1']!.images, 'low/1024x1024': LOW_SQUARE_USD } } },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await azure?.close();
  });

  async function caller(budgetUsd = 1_000) {
    const { id, key } = await gateway.createKey({ name: `painter-${budgetUsd}` });
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: budgetUsd, period: 'day' });
    return { id, openai: gateway.client(key) };
  }

  async function usageRow(keyId: string): Promise<Row> {
    return eventually('the usage row', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const line = (await response.text()).trim().split('\n').find(Boolean);
      return line ? (JSON.parse(line) as Row) : undefined;
    });
  }

  const tokensCost = (usage: { input_tokens: number; output_tokens: number }) =>
    (usage.input_tokens * PRICE_CATALOG['gpt-4.1']!.input + usage.output_tokens * PRICE_CATALOG['gpt-4.1']!.output) / 1e6;

  it('answers whole with the image OpenAI made, metered at the overridable price of its quality and size', async () => {
    const { id, openai } = await caller();
    const { data, response } = await openai.responses
      .create({ model: 'painter', input: 'Draw a fjord', tools: [{ type: 'image_generation', quality: 'low' }] })
      .withResponse();
    expect(fake.requests.at(-1)!.body).toMatchObject({
      model: 'gpt-4.1',
      tools: [{ type: 'image_generation', quality: 'low' }],
      max_tool_calls: MAX_HOSTED_TOOL_CALLS,
      store: false,
    });
    expect(data.output.map((item) => item.type)).toEqual(['image_generation_call', 'message']);
    const image = data.output[0]?.type === 'image_generation_call' ? data.output[0].result : null;
    expect(
      Buffer.from(image ?? '', 'base64')
        .subarray(1, 4)
        .toString('ascii'),
    ).toBe('PNG');
    expect(response.headers.get('x-gateway-provider')).toBe('openai');

    const row = await usageRow(id);
    expect(row).toMatchObject({
      endpoint: 'responses',
      billed_unit: 'image_generation_call',
      billed_quantity: 1,
      billed_variant: 'low/1024x1024',
      units_cost_usd: '0.020000000000',
    });
    expect(Number(row.cost_usd)).toBeCloseTo(tokensCost(data.usage!) + LOW_SQUARE_USD, 12);
  });

  it('streams the image events, billed at the quality and size OpenAI reports for an "auto" tool', async () => {
    const { id, openai } = await caller();
    const types: string[] = [];
    const stream = openai.responses.stream({ model: 'painter', input: 'Draw Bergen', tools: [{ type: 'image_generation' }] });
    stream.on('event', (event) => types.push(event.type));
    const final = await stream.finalResponse();
    expect(types).toContain('response.image_generation_call.completed');
    expect(final.output[0]).toMatchObject({ type: 'image_generation_call', quality: 'medium', size: '1024x1024' });
    // Stored by the gateway, image included.
    expect((await openai.responses.retrieve(final.id)).output[0]).toMatchObject({ type: 'image_generation_call', result: expect.any(String) });
    // Continued by a model served through chat: the image OpenAI made is left out, its message kept.
    expect((await openai.responses.create({ model: 'mock/echo', input: 'Thanks', previous_response_id: final.id })).status).toBe('completed');

    const row = await usageRow(id);
    const medium = PRICE_CATALOG['gpt-image-1']!.images!['medium/1024x1024']!;
    expect(row).toMatchObject({ stream: true, billed_unit: 'image_generation_call', billed_variant: 'medium/1024x1024' });
    expect(Number(row.cost_usd)).toBeCloseTo(tokensCost(final.usage!) + medium, 12);
  });

  it('reserves the images a request may make against its budget, at the dearest for "auto", as few as its max_tool_calls', async () => {
    // 4,096 output tokens ($0.033) and one image at the dearest ($0.25) fit in $0.5; ten images do not.
    const { openai } = await caller(0.5);
    const request = { model: 'painter', input: 'Draw a fjord', tools: [{ type: 'image_generation' as const }] };
    const refused = await openai.responses.create(request).catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');
    // max_tool_calls is OpenAI's (the Responses API reference); this SDK's types do not list it yet.
    const answered = await openai.responses.create({ ...request, max_tool_calls: 1 } as typeof request);
    expect(answered.output[0]?.type).toBe('image_generation_call');
    expect(fake.requests.at(-1)!.body).toMatchObject({ max_tool_calls: 1 });
  });

  it('refuses what it could not meter or serve, naming the parameter, before OpenAI is called', async () => {
    const { openai } = await caller();
    const before = fake.requests.length;
    const cases: [Record<string, unknown>[], string, string][] = [
      [[{ type: 'web_search' }, { type: 'image_generation' }], 'tools[1].type', 'not both'],
      [[{ type: 'image_generation', model: 'gpt-image-1-mini' }], 'tools[0].model', 'gpt-image-1'],
      [[{ type: 'image_generation', partial_images: 2 }], 'tools[0].partial_images', 'partial images'],
      [[{ type: 'image_generation' }, { type: 'image_generation', model: 'gpt-image-1-mini' }], 'tools[1].model', 'gpt-image-1'],
    ];
    for (const [tools, param, says] of cases) {
      const error = await openai.responses.create({ model: 'painter', input: 'hi', tools } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
      expect((error as Error).message).toContain(says);
    }
    const onAzure = await openai.responses.create({ model: 'azure-painter', input: 'hi', tools: [{ type: 'image_generation' }] }).catch((e: unknown) => e);
    expect((onAzure as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[0].type');
    expect(fake.requests.length).toBe(before);
    expect(azure.requests).toHaveLength(0);
  });
  it("refuses the hosted tools the gateway cannot scope to a tenant or meter, even on OpenAI's model", async () => {
    const { openai } = await caller();
    const before = fake.requests.length;
    const tools: Record<string, unknown>[] = [
      { type: 'file_search', vector_store_ids: ['vs_another_tenants'] },
      { type: 'mcp', server_label: 'dice', server_url: 'https://mcp.example.com/sse', require_approval: 'never' },
      { type: 'code_interpreter', container: { type: 'auto' } },
      { type: 'shell', environment: { type: 'container_auto' } },
      { type: 'computer_use_preview', display_width: 1024, display_height: 768, environment: 'browser' },
    ];
    for (const tool of tools) {
      const error = await openai.responses.create({ model: 'painter', input: 'hi', tools: [tool] } as never).catch((e: unknown) => e);
      expect(error, String(tool.type)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[0].type');
      expect((error as Error).message).toContain(String(tool.type));
    }
    expect(fake.requests.length).toBe(before);
  });
});
