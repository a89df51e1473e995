import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { FAKE_PNG } from '../fakes/openai-images.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type Row = Record<string, unknown>;

// POST /v1/images/generations with the openai SDK's images.generate: admitted, reserved against budgets at the
// price of what it asks for, billed per image made by quality and size, audited and recorded once.
describe('images through the gateway', () => {
  let openaiFake: FakeOpenAI;
  let anthropicFake: FakeAnthropic;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    gateway = await startInProcess({
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await openaiFake?.close();
    await anthropicFake?.close();
  });

  async function client(budgetUsd?: number) {
    const { id, key } = await gateway.createKey({ name: 'painter' });
    if (budgetUsd !== undefined) await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: budgetUsd, period: 'day' });
    return { id, openai: gateway.client(key) };
  }

  /** The request's audit event types, and the key's ledger rows, once written. */
  async function records(requestId: string, keyId: string, rows = 1) {
    const audit = await eventually('the audit row', async () => {
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

  it('makes a dall-e-3 HD image as base64, billed $0.12 for its size and quality, recorded once', async () => {
    const { id, openai } = await client();
    const { data, response } = await openai.images
      .generate({ model: 'openai/dall-e-3', prompt: 'a lighthouse at dusk', size: '1792x1024', quality: 'hd', response_format: 'b64_json' })
      .withResponse();
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/images/generations', body: { model: 'dall-e-3', quality: 'hd', size: '1792x1024' } });
    expect(data.data).toHaveLength(1);
    expect(data.data![0]).toMatchObject({ b64_json: FAKE_PNG, revised_prompt: expect.stringContaining('a lighthouse at dusk') });
    expect(response.headers.get('x-gateway-provider')).toBe('openai');
    const { audit, usage } = await records(response.headers.get('x-request-id')!, id);
    expect(audit).toEqual(['request.completed']);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({
      endpoint: 'images.generations',
      provider_model: 'dall-e-3',
      billed_unit: 'image',
      billed_quantity: 1,
      billed_variant: 'hd/1792x1024',
      total_tokens: 0,
      cost_usd: '0.120000000000',
      units_cost_usd: '0.120000000000',
    });
  });

  it('makes dall-e-2 images as urls, billed per image; gpt-image-1 billed for the quality and size it chose', async () => {
    const { id, openai } = await client();
    const urls = await openai.images.generate({ model: 'openai/dall-e-2', prompt: 'a cat', n: 3, size: '256x256' });
    expect(urls.data?.every((image) => image.url?.startsWith('https://') && !image.b64_json)).toBe(true);
    expect(urls.data).toHaveLength(3);
    const chosen = await openai.images.generate({ model: 'openai/gpt-image-1', prompt: 'a dog' });
    expect(chosen).toMatchObject({ quality: 'medium', size: '1024x1024' });
    const { usage } = await records('', id, 2);
    const byModel = Object.fromEntries(usage.map((row) => [row.provider_model, row]));
    expect(byModel['dall-e-2']).toMatchObject({ billed_quantity: 3, billed_variant: 'standard/256x256', cost_usd: '0.048000000000' });
    expect(byModel['gpt-image-1']).toMatchObject({ billed_quantity: 1, billed_variant: 'medium/1024x1024', cost_usd: '0.042000000000' });
  });

  it('reserves what a request asks for against budgets: refused before the provider when it does not fit', async () => {
    const { openai } = await client(0.1);
    const before = openaiFake.requests.length;
    const dear = await openai.images.generate({ model: 'openai/dall-e-3', prompt: 'x', quality: 'hd', size: '1024x1792' }).catch((e: unknown) => e);
    expect(dear).toBeInstanceOf(OpenAI.APIError);
    expect(dear).toMatchObject({ status: 402, code: 'budget_exceeded' });
    expect(openaiFake.requests.length).toBe(before);
    // Two standard images at $0.04 fit in $0.10; the spend they settled leaves no room for a third.
    for (let i = 0; i < 2; i++) await openai.images.generate({ model: 'openai/dall-e-3', prompt: `picture ${i}` });
    const third = await openai.images.generate({ model: 'openai/dall-e-3', prompt: 'one more' }).catch((e: unknown) => e);
    expect(third).toMatchObject({ status: 402, code: 'budget_exceeded' });
    expect(openaiFake.requests.length).toBe(before + 2);
  });

  it('refuses a caller without a key, and a key not allowed the model, before any provider call', async () => {
    const calls = openaiFake.requests.length;
    const body = { model: 'openai/dall-e-3', prompt: 'a lighthouse' };
    const anonymous = await fetch(`${gateway.baseURL}/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(anonymous.status).toBe(401);
    const { id, openai } = await client();
    await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${id}`, { allowed_models: ['openai/gpt-4o-mini'] });
    await expect(openai.images.generate(body)).rejects.toMatchObject({ status: 403 });
    expect(openaiFake.requests.length).toBe(calls);
  });

  it('refuses a model none of whose providers makes images, naming the API and the model', async () => {
    const { openai } = await client();
    const refused = await openai.images.generate({ model: 'anthropic/claude-test', prompt: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
      message:
        'The model `anthropic/claude-test` has no image generation endpoint: none of its providers (anthropic (anthropic)) offers /v1/images/generations.',
    });
  });

  it("answers bad input with a 400 in OpenAI's shape: the gateway's checks before any call, the provider's passed on", async () => {
    const { openai } = await client();
    const before = openaiFake.requests.length;
    const tooMany = await openai.images.generate({ model: 'openai/dall-e-2', prompt: 'x', n: 11 }).catch((e: unknown) => e);
    expect((tooMany as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'n', message: "Invalid 'n': must be at most 10." });
    const streamed = await openai.images.generate({ model: 'openai/gpt-image-1', prompt: 'x', stream: true }).catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(OpenAI.BadRequestError);
    expect((streamed as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('stream');
    const noPrompt = await openai.images.generate({ model: 'openai/dall-e-2' } as never).catch((e: unknown) => e);
    expect((noPrompt as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('prompt');
    expect(openaiFake.requests.length).toBe(before);
    const badSize = await openai.images.generate({ model: 'openai/dall-e-3', prompt: 'x', size: '256x256' }).catch((e: unknown) => e);
    expect(badSize).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badSize as InstanceType<typeof OpenAI.BadRequestError>).message).toContain("Invalid value: '256x256'");
  });
});
