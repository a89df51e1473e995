import OpenAI, { type APIError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeAzure, type FakeAzure } from '../fakes/azure.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { FAKE_PNG } from '../fakes/openai-images.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { keyRecords } from '../harness/records.js';

const MAX_UPLOAD = 100_000;

const png = (name: string, bytes?: number) =>
  toFile(bytes ? Buffer.concat([Buffer.from(FAKE_PNG, 'base64'), Buffer.alloc(bytes)]) : Buffer.from(FAKE_PNG, 'base64'), name, { type: 'image/png' });

// POST /v1/images/edits and /v1/images/variations with the openai SDK's images.edit and images.createVariation:
// multipart forms (several images, a mask) forwarded to the provider as sent, admitted and reserved against budgets,
// billed per image as generations are, audited and recorded once; refused clearly where they cannot be served.
describe('image edits and variations through the gateway', () => {
  let openaiFake: FakeOpenAI;
  let anthropicFake: FakeAnthropic;
  let azureFake: FakeAzure;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    azureFake = await startFakeAzure({ apiKey: 'azure-key', deployments: ['images'] });
    gateway = await startInProcess({
      ingress: { maxUploadBytes: MAX_UPLOAD },
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
          azure: { type: 'azure', endpoint: azureFake.url, apiKey: 'azure-key', deployments: { 'gpt-image-1': 'images', 'dall-e-2': 'images' } },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await openaiFake?.close();
    await anthropicFake?.close();
    await azureFake?.close();
  });

  async function client(budgetUsd?: number) {
    const { id, key } = await gateway.createKey({ name: 'retoucher' });
    if (budgetUsd !== undefined) await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: budgetUsd, period: 'day' });
    return { id, key, openai: gateway.client(key) };
  }

  it('edits with gpt-image-1: several images and a mask forwarded as sent, billed for the quality and size it chose, recorded once', async () => {
    const { id, openai } = await client();
    const { data, response } = await openai.images
      .edit({
        model: 'openai/gpt-image-1',
        prompt: 'put them in one picture',
        image: [await png('cat.png'), await png('hat.png', 10)],
        mask: await png('mask.png'),
      })
      .withResponse();
    expect(data).toMatchObject({ quality: 'medium', size: '1024x1024' });
    expect(data.data?.[0]?.b64_json).toBe(FAKE_PNG);
    const size = Buffer.from(FAKE_PNG, 'base64').length;
    expect(openaiFake.requests.at(-1)).toMatchObject({
      path: '/v1/images/edits',
      body: {
        model: 'gpt-image-1',
        prompt: 'put them in one picture',
        'image[]': [
          { filename: 'cat.png', type: 'image/png', size },
          { filename: 'hat.png', type: 'image/png', size: size + 10 },
        ],
        mask: { filename: 'mask.png', type: 'image/png', size },
      },
    });
    expect(response.headers.get('x-gateway-provider')).toBe('openai');
    // One image as `image`, as the SDK sends a single file, and dall-e-2's urls.
    const single = await openai.images.edit({ model: 'openai/dall-e-2', prompt: 'a hat', image: await png('cat.png'), n: 2, size: '512x512' });
    expect(single.data?.map((image) => image.url?.startsWith('https://'))).toEqual([true, true]);
    expect(openaiFake.requests.at(-1)?.body).toMatchObject({ model: 'dall-e-2', n: '2', size: '512x512', image: { filename: 'cat.png' } });

    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 2, [response.headers.get('x-request-id')!]);
    expect(audit).toEqual([['request.completed']]);
    const byModel = Object.fromEntries(usage.map((row) => [row.provider_model, row]));
    expect(byModel['gpt-image-1']).toMatchObject({
      endpoint: 'images.edits',
      billed_unit: 'image',
      billed_quantity: 1,
      billed_variant: 'medium/1024x1024',
      cost_usd: '0.042000000000',
    });
    // Two at dall-e-2's $0.018 for 512x512.
    expect(byModel['dall-e-2']).toMatchObject({ endpoint: 'images.edits', billed_quantity: 2, billed_variant: 'standard/512x512', cost_usd: '0.036000000000' });
  });

  it("makes dall-e-2 variations, billed per image; another model gets the provider's refusal", async () => {
    const { id, openai } = await client();
    const { data, response } = await openai.images
      .createVariation({ model: 'openai/dall-e-2', image: await png('otter.png'), n: 3, size: '256x256', response_format: 'b64_json' })
      .withResponse();
    expect(data.data?.map((image) => image.b64_json)).toEqual([FAKE_PNG, FAKE_PNG, FAKE_PNG]);
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/images/variations', body: { model: 'dall-e-2', image: { filename: 'otter.png' } } });
    const notDallE2 = await openai.images.createVariation({ model: 'openai/gpt-image-1', image: await png('otter.png') }).catch((e: unknown) => e);
    expect(notDallE2).toBeInstanceOf(OpenAI.BadRequestError);
    expect((notDallE2 as APIError).message).toContain("Value must be 'dall-e-2'");
    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 2, [response.headers.get('x-request-id')!]);
    expect(audit).toEqual([['request.completed']]);
    const made = usage.find((row) => row.http_status === 200);
    expect(made).toMatchObject({ endpoint: 'images.variations', billed_quantity: 3, billed_variant: 'standard/256x256', cost_usd: '0.048000000000' });
  });

  it('refuses before the provider: a budget too small, files over the upload limit together, bad forms, a provider without images', async () => {
    const calls = openaiFake.requests.length;
    const poor = await client(0.01);
    const dear = await poor.openai.images
      .edit({ model: 'openai/gpt-image-1', prompt: 'x', image: await png('a.png'), quality: 'high' })
      .catch((e: unknown) => e);
    expect(dear).toMatchObject({ status: 402, code: 'budget_exceeded' });

    const { openai, key } = await client();
    // Each file under the limit, the three together over it.
    const big = await openai.images
      .edit({ model: 'openai/gpt-image-1', prompt: 'x', image: [await png('a.png', 40_000), await png('b.png', 40_000), await png('c.png', 40_000)] })
      .catch((e: unknown) => e);
    expect(big).toBeInstanceOf(OpenAI.APIError);
    expect(big).toMatchObject({ status: 413, type: 'invalid_request_error', param: 'image' });
    expect((big as APIError).message).toContain(`larger than this gateway accepts (${MAX_UPLOAD} bytes) for all its files together`);
    const { audit } = await keyRecords(gateway.adminUrl, '', 0, [(big as APIError).requestID!]);
    expect(audit).toEqual([['request.rejected']]);

    const tooMany = await openai.images
      .edit({ model: 'openai/gpt-image-1', prompt: 'x', image: await Promise.all(Array.from({ length: 17 }, (_, i) => png(`${i}.png`))) })
      .catch((e: unknown) => e);
    expect(tooMany).toMatchObject({ status: 400, param: 'image' });
    expect((tooMany as APIError).message).toContain('at most 16');
    const streamed = await openai.images.edit({ model: 'openai/gpt-image-1', prompt: 'x', image: await png('a.png'), stream: true }).catch((e: unknown) => e);
    expect(streamed).toMatchObject({ status: 400, param: 'stream' });
    const variationPrompt = await openai.images
      .createVariation({ model: 'openai/dall-e-2', image: await png('a.png'), prompt: 'no' } as never)
      .catch((e: unknown) => e);
    expect(variationPrompt).toMatchObject({ status: 400 });
    const post = (form: FormData, path = 'edits') =>
      fetch(`${gateway.baseURL}/images/${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    const noImage = new FormData();
    noImage.append('model', 'openai/gpt-image-1');
    noImage.append('prompt', 'x');
    expect(await (await post(noImage)).json()).toMatchObject({ error: { param: 'image', message: "Missing required parameter: 'image'." } });
    noImage.append('file', new Blob([Buffer.from(FAKE_PNG, 'base64')]), 'a.png');
    expect(await (await post(noImage)).json()).toMatchObject({ error: { param: 'file', message: expect.stringContaining("Unexpected file field 'file'") } });

    const anthropic = await openai.images.edit({ model: 'anthropic/claude-test', prompt: 'x', image: await png('a.png') }).catch((e: unknown) => e);
    expect((anthropic as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
      message: 'The model `anthropic/claude-test` has no image edit endpoint: none of its providers (anthropic (anthropic)) offers /v1/images/edits.',
    });
    const variation = await openai.images.createVariation({ model: 'anthropic/claude-test', image: await png('a.png') }).catch((e: unknown) => e);
    expect((variation as APIError).message).toContain('has no image variation endpoint');
    expect(openaiFake.requests.length).toBe(calls);
  });
  it('edits on an Azure OpenAI deployment; a variation there is refused, as Azure makes none', async () => {
    const { openai } = await client();
    const edited = await openai.images.edit({ model: 'azure/gpt-image-1', prompt: 'add a hat', image: [await png('a.png'), await png('b.png')] });
    expect(edited.data?.[0]?.b64_json).toBe(FAKE_PNG);
    expect(azureFake.requests.at(-1)).toMatchObject({
      deployment: 'images',
      operation: 'images/edits',
      body: { 'image[]': [{ filename: 'a.png' }, { filename: 'b.png' }] },
    });
    const calls = azureFake.requests.length;
    const variation = await openai.images.createVariation({ model: 'azure/dall-e-2', image: await png('a.png') }).catch((e: unknown) => e);
    expect(variation).toMatchObject({ status: 400, param: 'model' });
    expect((variation as APIError).message).toContain('has no image variation endpoint: none of its providers (azure (azure)) offers /v1/images/variations');
    expect(azureFake.requests.length).toBe(calls);
  });
});
