import { request as httpRequest } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type Row = Record<string, unknown>;

/** POSTs to `path` on `origin` exactly as written, dots included, and answers the status. */
function rawPost(origin: string, path: string, headers: Record<string, string>, body: string): Promise<number> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ hostname, port, path, method: 'POST', headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end(body);
  });
}

const OPENAI_KEY = 'sk-openai-passthrough-provider-key';
const ANTHROPIC_KEY = 'sk-ant-passthrough-provider-key';

// Provider-native passthrough (/openai/..., /anthropic/...) with the official SDKs pointed at it: authenticated with a
// gateway key (never forwarded), admitted against the key's models and budgets as <provider>/<model>, metered from the
// provider's own usage, audited once; paths, providers and keys outside what is allowed refused before any call.
describe('provider-native passthrough', () => {
  let openaiFake: FakeOpenAI;
  let anthropicFake: FakeAnthropic;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let root: string;

  beforeAll(async () => {
    openaiFake = await startFakeOpenAI({ apiKey: OPENAI_KEY });
    anthropicFake = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
    gateway = await startInProcess({
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: OPENAI_KEY },
          claude: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: ANTHROPIC_KEY },
        },
      },
      guardrails: {
        policies: { contacts: { rules: [{ name: 'emails', detectors: ['email'], direction: 'request', action: 'redact' }] } },
        attach: { teams: { guarded: ['contacts'] } },
      },
    });
    root = gateway.baseURL.replace(/\/v1$/, '');
  });
  afterAll(async () => {
    await gateway?.stop();
    await openaiFake?.close();
    await anthropicFake?.close();
  });

  async function caller(options: { budgetUsd?: number; allowedModels?: string[]; team?: string } = {}) {
    const { id, key } = await gateway.createKey({ name: 'native', ...(options.team ? { team: options.team } : {}) });
    if (options.budgetUsd !== undefined) {
      await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: options.budgetUsd, period: 'day' });
    }
    if (options.allowedModels) await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${id}`, { allowed_models: options.allowedModels });
    return {
      id,
      key,
      openai: new OpenAI({ baseURL: `${root}/openai/v1`, apiKey: key, maxRetries: 0 }),
      anthropic: new Anthropic({ baseURL: `${root}/anthropic`, apiKey: key, maxRetries: 0 }),
    };
  }

  /** The request's audit event types, and the key's ledger rows, once written. */
  async function records(requestId: string, keyId: string, rows = 1) {
    const audit = await eventually('the audit rows', async () => {
      const page = await admin<{ data: { event_type: string; payload: unknown }[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
      return page.data.length ? page.data : undefined;
    });
    const usage = await eventually('the usage rows', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const lines = (await response.text()).trim().split('\n').filter(Boolean);
      return lines.length >= rows ? lines.map((line) => JSON.parse(line) as Row) : undefined;
    });
    return { audit, usage };
  }

  it("serves OpenAI's own Responses API and its input token count, which the unified API does not, on the provider's key", async () => {
    const { id, key, openai } = await caller();
    // A tool the client runs passes; tools the provider runs are refused (below).
    const tools = [{ type: 'function' as const, name: 'lookup', parameters: { type: 'object', properties: {} }, strict: false }];
    const { data, response } = await openai.responses.create({ model: 'gpt-4.1', input: 'Weather in Oslo?', instructions: 'Be brief.', tools }).withResponse();
    // OpenAI's own answer (the unified API would have answered from chat: "Fake OpenAI reply to").
    expect(data.output_text).toBe('Fake OpenAI response to: Weather in Oslo?');
    expect(response.headers.get('x-gateway-provider')).toBe('openai');
    const seen = openaiFake.requests.at(-1)!;
    expect(seen).toMatchObject({ path: '/v1/responses', authorization: `Bearer ${OPENAI_KEY}`, body: { model: 'gpt-4.1', instructions: 'Be brief.', tools } });
    expect(JSON.stringify(seen.headers)).not.toContain(key);

    const counted = await openai.responses.inputTokens.count({ model: 'gpt-4.1', input: 'How many tokens is this?' });
    expect(counted).toMatchObject({ object: 'response.input_tokens', input_tokens: expect.any(Number) });
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/responses/input_tokens', authorization: `Bearer ${OPENAI_KEY}` });

    const { audit, usage } = await records(response.headers.get('x-request-id')!, id, 2);
    expect(audit.map((row) => row.event_type)).toEqual(['request.completed']);
    expect(JSON.stringify(audit)).not.toContain(OPENAI_KEY);
    const byEndpoint = Object.fromEntries(usage.map((row) => [row.endpoint, row]));
    expect(byEndpoint['/openai/v1/responses']).toMatchObject({
      model: 'openai/gpt-4.1',
      provider: 'openai',
      provider_model: 'gpt-4.1',
      prompt_tokens: data.usage!.input_tokens,
      completion_tokens: data.usage!.output_tokens,
      stream: false,
    });
    // gpt-4.1 at $2 in and $8 out per million tokens; counting tokens is free, as at OpenAI.
    expect(Number(byEndpoint['/openai/v1/responses']!.cost_usd)).toBeCloseTo((data.usage!.input_tokens * 2 + data.usage!.output_tokens * 8) / 1e6, 12);
    expect(byEndpoint['/openai/v1/responses/input_tokens']).toMatchObject({ total_tokens: 0, cost_usd: '0.000000000000' });
  });

  it("refuses what would leave the gateway's controls: provider-run tools, provider-kept state, background runs", async () => {
    const { openai, anthropic } = await caller();
    const before = [openaiFake.requests.length, anthropicFake.requests.length];
    const search = await openai.responses.create({ model: 'gpt-4.1', input: 'news?', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e);
    expect(search).toBeInstanceOf(OpenAI.BadRequestError);
    expect(search).toMatchObject({ param: 'tools[0].type' });
    const earlier = await openai.responses.create({ model: 'gpt-4.1', input: 'go on', previous_response_id: 'resp_of_someone_else' }).catch((e: unknown) => e);
    expect(earlier).toMatchObject({ status: 400, param: 'previous_response_id' });
    const background = await openai.responses.create({ model: 'gpt-4.1', input: 'later', background: true }).catch((e: unknown) => e);
    expect(background).toMatchObject({ status: 400, param: 'background' });
    const fetcher = await anthropic.messages
      .create({
        model: 'claude-sonnet-4-5',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'look it up' }],
        tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      })
      .catch((e: unknown) => e);
    expect(fetcher).toBeInstanceOf(Anthropic.BadRequestError);
    expect((fetcher as InstanceType<typeof Anthropic.APIError>).message).toContain('web_search_20250305');
    expect([openaiFake.requests.length, anthropicFake.requests.length]).toEqual(before);
  });

  it('streams the Responses API as the provider sends it, metered from response.completed', async () => {
    const { id, openai } = await caller();
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'Count to three', stream: true }).withResponse();
    const types: string[] = [];
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream.data) {
      types.push(event.type);
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types.filter((type) => type === 'response.output_text.delta').length).toBeGreaterThan(2);
    const { usage } = await records(stream.response.headers.get('x-request-id')!, id);
    expect(usage[0]).toMatchObject({
      endpoint: '/openai/v1/responses',
      stream: true,
      prompt_tokens: completed!.usage!.input_tokens,
      completion_tokens: completed!.usage!.output_tokens,
    });
  });

  it('passes chat completions through, streamed without a usage chunk the client did not ask for, yet metered', async () => {
    const { id, openai } = await caller();
    const whole = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] });
    expect(whole.choices[0]!.message.content).toBe('Fake OpenAI reply to: Hello');
    const chunks = [];
    for await (const chunk of await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true })) {
      chunks.push(chunk);
    }
    expect(chunks.every((chunk) => chunk.choices.length === 1)).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('')).toBe('Fake OpenAI reply to: Hi');
    expect(openaiFake.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const { usage } = await records('', id, 2);
    const streamed = usage.find((row) => row.stream === true)!;
    expect(streamed).toMatchObject({ endpoint: '/openai/v1/chat/completions', model: 'openai/gpt-4o-mini' });
    expect(streamed.completion_tokens).toBeGreaterThan(0);
    expect(usage.find((row) => row.stream === false)).toMatchObject({
      prompt_tokens: whole.usage!.prompt_tokens,
      completion_tokens: whole.usage!.completion_tokens,
    });
  });

  it('passes embeddings through, metered from their usage with no output reserved', async () => {
    const { id, openai } = await caller();
    const embedded = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'embed me natively', encoding_format: 'float' });
    expect(embedded.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/embeddings', authorization: `Bearer ${OPENAI_KEY}` });
    const { usage } = await records('', id);
    expect(usage[0]).toMatchObject({ endpoint: '/openai/v1/embeddings', prompt_tokens: embedded.usage.prompt_tokens, completion_tokens: 0 });
  });

  it('ends a stream the provider cut short with an error event, recorded as failed', async () => {
    const { id, openai } = await caller();
    const stream = await openai.chat.completions.create({ model: 'cut-stream', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    const read = (async () => {
      for await (const _chunk of stream);
    })();
    await expect(read).rejects.toThrow('ended the stream before the answer was complete');
    const { usage } = await records('', id);
    expect(usage[0]).toMatchObject({ endpoint: '/openai/v1/chat/completions', outcome: 'failed', http_status: 502 });
  });

  it("passes the provider's own error event on once, and records the stream as failed", async () => {
    const { id, key } = await caller();
    const response = await fetch(`${root}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'error-stream', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await response.text();
    expect(text.match(/^event: error$/gm)).toHaveLength(1);
    expect(text).toContain('overloaded_error');
    const { usage } = await records('', id);
    expect(usage[0]).toMatchObject({ endpoint: '/anthropic/v1/messages', outcome: 'failed', stream: true });
  });

  it("serves Anthropic's Messages API with the SDK, streamed and with a beta header, on the provider's key", async () => {
    const { id, key, anthropic } = await caller();
    const { data: message, response } = await anthropic.messages
      .create(
        { model: 'claude-sonnet-4-5', max_tokens: 200, messages: [{ role: 'user', content: 'Hello Claude' }] },
        { headers: { 'anthropic-version': '2023-01-01' } },
      )
      .withResponse();
    expect(message.content[0]).toMatchObject({ type: 'text' });
    // The provider's own response headers stay behind (Anthropic's request-id); the gateway's are there.
    expect(response.headers.get('request-id')).toBeNull();
    expect(response.headers.get('x-gateway-provider')).toBe('claude');
    // The client's anthropic-version goes on, over the provider's configured one (2023-06-01).
    expect(anthropicFake.requests.at(-1)).toMatchObject({ path: '/v1/messages', apiKey: ANTHROPIC_KEY, keyHeader: 'x-api-key', version: '2023-01-01' });

    const stream = anthropic.beta.messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 200,
      betas: ['token-efficient-tools-2025-02-19'],
      messages: [{ role: 'user', content: 'Stream to me' }],
    });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('end_turn');
    // The SDK's beta methods add ?beta=true, which is not passed on.
    expect(anthropicFake.requests.at(-1)).toMatchObject({ apiKey: ANTHROPIC_KEY, beta: 'token-efficient-tools-2025-02-19', body: { stream: true }, query: '' });
    expect(anthropicFake.requests.every((seen) => seen.apiKey !== key)).toBe(true);
    // The provider's refusal keeps its status, in Anthropic's shape.
    const refused = await anthropic.messages.create({ model: 'fail-400', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });

    const { audit, usage } = await records(response.headers.get('x-request-id')!, id, 3);
    expect(audit.map((row) => row.event_type)).toEqual(['request.completed']);
    const byStream = Object.fromEntries(usage.filter((row) => row.outcome !== 'failed').map((row) => [String(row.stream), row]));
    expect(byStream.false).toMatchObject({
      endpoint: '/anthropic/v1/messages',
      model: 'claude/claude-sonnet-4-5',
      provider: 'claude',
      prompt_tokens: message.usage.input_tokens,
      completion_tokens: message.usage.output_tokens,
    });
    expect(Number(byStream.false!.cost_usd)).toBeCloseTo((message.usage.input_tokens * 3 + message.usage.output_tokens * 15) / 1e6, 12);
    expect(byStream.true).toMatchObject({ prompt_tokens: final.usage.input_tokens, completion_tokens: final.usage.output_tokens });
  });

  it('refuses a model the key may not use, before any provider call, in each API shape', async () => {
    const { openai, anthropic } = await caller({ allowedModels: ['openai/gpt-4o-mini'] });
    const before = [openaiFake.requests.length, anthropicFake.requests.length];
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fine' }] });
    const refused = await openai.responses.create({ model: 'gpt-4.1', input: 'not this one' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain('openai/gpt-4.1');
    const claude = await anthropic.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(claude).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect([openaiFake.requests.length, anthropicFake.requests.length]).toEqual([before[0]! + 1, before[1]]);
  });

  it('refuses paths outside the allow-list, naming what is, and an API no configured provider serves', async () => {
    const { key } = await caller();
    const before = openaiFake.requests.length;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const organization = await fetch(`${root}/openai/v1/organization/users`, { headers });
    expect(organization.status).toBe(404);
    expect(((await organization.json()) as { error: { message: string } }).error.message).toContain('POST /openai/v1/chat/completions');
    const files = await fetch(`${root}/openai/v1/files`, { method: 'POST', headers, body: '{"purpose":"batch"}' });
    expect(files.status).toBe(404);
    // Sent as written (fetch would resolve the dots): an exact match of a listed path, not a prefix.
    expect(await rawPost(root, '/openai/v1/chat/completions/../../organization/users', headers, '{"model":"gpt-4o-mini"}')).toBe(404);
    const bedrock = await fetch(`${root}/bedrock/model/anthropic.claude-sonnet-4-5/converse`, { method: 'POST', headers, body: '{}' });
    expect(bedrock.status).toBe(404);
    expect(await bedrock.json()).toEqual({
      __type: 'ResourceNotFoundException',
      message: 'No provider of type bedrock is configured, so /bedrock/ is not served.',
    });
    const modelless = await fetch(`${root}/openai/v1/chat/completions`, { method: 'POST', headers, body: '{"messages":[]}' });
    expect(modelless.status).toBe(400);
    expect(openaiFake.requests.length).toBe(before);
  });

  it("refuses a caller without a gateway key, even one holding the provider's key, and an unknown provider named", async () => {
    const stranger = new OpenAI({ baseURL: `${root}/openai/v1`, apiKey: OPENAI_KEY, maxRetries: 0 });
    await expect(stranger.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const { anthropic } = await caller();
    const unknown = await anthropic.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-gateway-provider': 'openai' } })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Anthropic.BadRequestError);
    expect((unknown as InstanceType<typeof Anthropic.APIError>).message).toContain('No configured provider `openai` serves the anthropic API');
  });

  it('reserves against budgets and caps the output it reserved for; an exhausted budget is refused before the provider', async () => {
    const { openai } = await caller({ budgetUsd: 1 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'cap me' }] });
    // No max_tokens asked: the provider is sent the cap the reservation covers (governance.defaultMaxOutputTokens).
    expect(openaiFake.requests.at(-1)!.body.max_completion_tokens).toEqual(expect.any(Number));

    const { anthropic } = await caller({ budgetUsd: 0.000001 });
    const before = anthropicFake.requests.length;
    const broke = await anthropic.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Spend what I do not have' }] })
      .catch((e: unknown) => e);
    expect(broke).toBeInstanceOf(Anthropic.APIError);
    expect(broke).toMatchObject({ status: 402 });
    expect(anthropicFake.requests.length).toBe(before);
  });

  it('refuses a caller under guardrail policies, which passthrough cannot apply', async () => {
    const { openai } = await caller({ team: 'guarded' });
    const before = openaiFake.requests.length;
    const refused = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail me@example.com' }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('passthrough_not_allowed');
    expect(openaiFake.requests.length).toBe(before);
  });
});
