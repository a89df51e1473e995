import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const PROMPT = { system: 'Be brief.', messages: [{ role: 'user' as const, content: 'How many tokens is this sentence?' }] };

// Token counting and moderations, free at the providers: admitted, audited once, and in the ledger at no cost.
describe('count_tokens and moderations through the gateway', () => {
  let anthropicFake: FakeAnthropic;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    gateway = await startInProcess({
      routing: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await anthropicFake?.close();
    await openaiFake?.close();
  });

  async function clients(allowedModels?: string[]) {
    const { id, key } = await gateway.createKey({ name: 'free' });
    if (allowedModels) await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${id}`, { allowed_models: allowedModels });
    const anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
    return { id, openai: gateway.client(key), anthropic };
  }

  /** The request's audit rows, once written, and the key's ledger rows. */
  async function records(requestId: string, keyId: string) {
    const audit = await eventually('the audit row', async () => {
      const page = await admin<{ data: { event_type: string }[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
      return page.data.length ? page.data : undefined;
    });
    const usage = await eventually('the usage row', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const text = (await response.text()).trim();
      return text ? text.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) : undefined;
    });
    return { audit, usage };
  }

  it('counts tokens at Anthropic for an Anthropic deployment, recorded once at no cost', async () => {
    const { id, anthropic } = await clients();
    const { data, response } = await anthropic.messages.countTokens({ model: 'anthropic/claude-test', ...PROMPT }).withResponse();
    const call = anthropicFake.requests.at(-1)!;
    expect(call.path).toBe('/v1/messages/count_tokens');
    expect(call.body).toEqual({ model: 'claude-test', ...PROMPT });
    expect(data.input_tokens).toBe(Math.ceil(JSON.stringify([PROMPT.system, PROMPT.messages, []]).length / 4));
    expect(response.headers.get('x-gateway-provider')).toBe('anthropic');
    const { audit, usage } = await records(response.headers.get('x-request-id')!, id);
    expect(audit.map((row) => row.event_type)).toEqual(['request.completed']);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ endpoint: 'messages.count_tokens', total_tokens: 0 });
    expect(Number(usage[0]!.cost_usd ?? 0)).toBe(0);
  });

  it("counts tokens with the gateway's tokenizer for another provider, which is not called", async () => {
    const { anthropic } = await clients();
    const before = openaiFake.requests.length;
    const { input_tokens } = await anthropic.messages.countTokens({ model: 'openai/gpt-4o-mini', ...PROMPT });
    // Eleven tokens of text in o200k_base, and the framing of two turns.
    expect(input_tokens).toBeGreaterThan(10);
    expect(input_tokens).toBeLessThan(40);
    expect(openaiFake.requests.length).toBe(before);
  });

  it('moderates through OpenAI: flagged categories as the SDK parses them, recorded once at no cost', async () => {
    const { id, openai } = await clients();
    const { data, response } = await openai.moderations
      .create({
        model: 'openai/omni-moderation-latest',
        input: [
          { type: 'text', text: 'you idiot' },
          { type: 'image_url', image_url: { url: 'https://example.com/gore.png' } },
        ],
      })
      .withResponse();
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/moderations', body: { model: 'omni-moderation-latest' } });
    expect(data.results).toHaveLength(1);
    expect(data.results[0]).toMatchObject({ flagged: true, categories: { harassment: true, violence: true, hate: false } });
    const { audit, usage } = await records(response.headers.get('x-request-id')!, id);
    expect(audit.map((row) => row.event_type)).toEqual(['request.completed']);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ endpoint: 'moderations', total_tokens: 0 });
    expect(Number(usage[0]!.cost_usd ?? 0)).toBe(0);

    const strings = await openai.moderations.create({ model: 'openai/omni-moderation-latest', input: ['I will kill it', 'hello'] });
    expect(strings.results.map((r) => r.flagged)).toEqual([true, false]);
  });

  it('refuses moderations for a model none of whose providers has them, in OpenAI shape', async () => {
    const { openai } = await clients();
    const before = anthropicFake.requests.length;
    const refused = await openai.moderations.create({ model: 'anthropic/claude-test', input: 'hello' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
      message: 'The model `anthropic/claude-test` has no moderation endpoint: none of its providers (anthropic (anthropic)) offers /v1/moderations.',
    });
    expect(anthropicFake.requests.length).toBe(before);
  });

  it('refuses a model the key may not use, as for chat', async () => {
    const { openai, anthropic } = await clients(['openai/gpt-4o-mini']);
    const counted = await anthropic.messages.countTokens({ model: 'anthropic/claude-test', ...PROMPT }).catch((e: unknown) => e);
    expect(counted).toBeInstanceOf(Anthropic.PermissionDeniedError);
    const moderated = await openai.moderations.create({ model: 'openai/omni-moderation-latest', input: 'hi' }).catch((e: unknown) => e);
    expect(moderated).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const chat = await openai.chat.completions.create({ model: 'anthropic/claude-test', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect((chat as { status: number }).status).toBe((counted as { status: number }).status);
  });

  it("answers bad input with a 400 in the client's shape, before any provider is called", async () => {
    const { openai, anthropic } = await clients();
    const calls = anthropicFake.requests.length + openaiFake.requests.length;
    const noMessages = await anthropic.messages.countTokens({ model: 'anthropic/claude-test' } as never).catch((e: unknown) => e);
    expect(noMessages).toBeInstanceOf(Anthropic.BadRequestError);
    expect((noMessages as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'messages: Field required' },
    });
    const wrongType = await openai.moderations.create({ model: 'openai/omni-moderation-latest', input: 42 } as never).catch((e: unknown) => e);
    expect((wrongType as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      param: 'input',
      message: "Invalid 'input': expected a string, an array of strings, or an array of text and image_url parts.",
    });
    const tooMany = await openai.moderations
      .create({ model: 'openai/omni-moderation-latest', input: Array.from({ length: 2_049 }, () => 'x') })
      .catch((e: unknown) => e);
    expect((tooMany as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      param: 'input',
      message: "Invalid 'input': must hold at most 2048 items.",
    });
    const badPart = await openai.moderations
      .create({ model: 'openai/omni-moderation-latest', input: [{ type: 'audio', audio: 'x' }] } as never)
      .catch((e: unknown) => e);
    expect(badPart).toBeInstanceOf(OpenAI.BadRequestError);
    expect(anthropicFake.requests.length + openaiFake.requests.length).toBe(calls);
  });
});
