import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServiceAccount, startFakeGemini, type FakeGemini, type TestServiceAccount } from '../../../test/fakes/gemini.js';
import { call, collect, failure, TEST_TIMEOUTS as timeouts } from '../../../test/harness/adapters.js';
import type { ChatRequest, FunctionTool } from '../canonical.js';
import { createGeminiAdapter, createVertexAdapter, geminiProviderConfig, vertexProviderConfig } from './gemini.js';
import type { ProviderAdapter } from './types.js';

const KEY = 'fake-gemini-key';
const weatherTool: FunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    strict: true,
    parameters: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      additionalProperties: false,
      properties: { city: { type: 'string' }, unit: { type: ['string', 'null'], enum: ['c', 'f', null] } },
      required: ['city'],
    },
  },
};
const user = (content: string, model = 'gemini-2.5-flash'): ChatRequest => ({ model, messages: [{ role: 'user', content }] });
type Body = { contents: { role: string; parts: Record<string, unknown>[] }[]; [field: string]: unknown };

describe('gemini adapter against the fake Gemini API', () => {
  let fake: FakeGemini;
  let adapter: ProviderAdapter;
  const lastBody = () => fake.requests.at(-1)!.body as Body;

  beforeAll(async () => {
    fake = await startFakeGemini({ apiKey: KEY });
    adapter = createGeminiAdapter('gemini', geminiProviderConfig.parse({ type: 'gemini', baseUrl: fake.url, apiKeys: ['wrong-key', KEY] }), timeouts);
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('fills config defaults and declares its capabilities', () => {
    expect(geminiProviderConfig.parse({ type: 'gemini', apiKey: 'k' })).toMatchObject({
      baseUrl: 'https://generativelanguage.googleapis.com',
      apiVersion: 'v1beta',
      structuredOutput: 'responseJsonSchema',
    });
    expect(adapter.capabilities).toEqual({
      streaming: true,
      tools: true,
      vision: true,
      embeddings: true,
      jsonSchema: true,
      completions: false,
      moderations: false,
      images: false,
      rerank: false,
      audio: false,
    });
    expect(adapter.credentialCount).toBe(2);
    expect(vertexProviderConfig.parse({ type: 'vertex', project: 'p', serviceAccountFile: '/k.json' })).toMatchObject({
      location: 'us-central1',
      apiVersion: 'v1',
    });
    expect(() => vertexProviderConfig.parse({ type: 'vertex', project: 'p' })).toThrow(/serviceAccount/);
  });

  it('never sends a model name whose "." or ".." segments would make its URL another model\'s', async () => {
    const before = fake.requests.length;
    for (const model of ['gemini-2.0-flash/../gemini-2.5-pro', 'models/./x', 'tunedModels/..']) {
      const error = await failure(adapter.chat(call(user('x', model))));
      expect(error).toMatchObject({ kind: 'bad_request', message: expect.stringContaining('".."') });
    }
    expect(fake.requests.length).toBe(before);
  });

  it('chats: maps system, generation config and candidates, sends the key in x-goog-api-key', async () => {
    const response = await adapter.chat(
      call(
        {
          model: 'gemini-2.5-flash',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'developer', content: 'No emojis.' },
            { role: 'user', content: [{ type: 'text', text: 'ping' }] },
          ],
          temperature: 0.3,
          top_p: 0.9,
          max_tokens: 50,
          stop: 'END',
          seed: 7,
          n: 2,
          presence_penalty: 0.1,
          frequency_penalty: 0.2,
          logprobs: true,
          top_logprobs: 3,
        },
        1,
      ),
    );
    expect(fake.requests.at(-1)).toMatchObject({ path: '/v1beta/models/gemini-2.5-flash:generateContent', headers: { 'x-goog-api-key': KEY } });
    expect(lastBody()).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'ping' }] }],
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'No emojis.' }] },
      generationConfig: {
        temperature: 0.3,
        topP: 0.9,
        maxOutputTokens: 50,
        stopSequences: ['END'],
        seed: 7,
        candidateCount: 2,
        presencePenalty: 0.1,
        frequencyPenalty: 0.2,
        responseLogprobs: true,
        logprobs: 3,
      },
    });
    expect(response).toMatchObject({ object: 'chat.completion', model: 'gemini-2.5-flash' });
    expect(response.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, 'Fake Gemini reply to: ping', 'stop'],
      [1, 'Fake Gemini reply to: ping', 'stop'],
    ]);
    expect(response.usage).toMatchObject({
      completion_tokens: 10,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(response.usage!.total_tokens).toBe(response.usage!.prompt_tokens + 10);
  });

  it('leaves thoughts out of the content and counts them as reasoning tokens; MAX_TOKENS is length', async () => {
    const thinking = await adapter.chat(call(user('deep question', 'thinking-model'), 1));
    expect(thinking.choices[0]?.message.content).toBe('Fake Gemini reply to: deep question');
    expect(thinking.usage).toMatchObject({
      completion_tokens: 6 + 7,
      prompt_tokens_details: { cached_tokens: 3 },
      completion_tokens_details: { reasoning_tokens: 7 },
    });
    const cut = await adapter.chat(call({ ...user('a long answer please'), max_completion_tokens: 2 }, 1));
    expect(cut.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: 'Fake Gemini ' } });
  });

  it('streams: role first, content deltas, finish, then a usage-only chunk', async () => {
    const chunks = await collect(await adapter.chatStream(call(user('stream please'), 1)));
    expect(fake.requests.at(-1)).toMatchObject({ path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent', query: { alt: 'sse' } });
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Fake Gemini reply to: stream please');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 6 });
  });

  it('streams a tool call whole in one delta', async () => {
    const chunks = await collect(await adapter.chatStream(call({ ...user('weather in Paris?'), tools: [weatherTool] }, 1)));
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls).toEqual([
      { index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    ]);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(5);
  });

  it('round-trips tools: cleaned declarations, tool_choice, functionCall/functionResponse turns, thought signatures', async () => {
    const first = await adapter.chat(call({ ...user('What is the weather in Paris?', 'gemini-3-pro'), tools: [weatherTool], tool_choice: 'auto' }, 1));
    expect(lastBody().tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Current weather',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' }, unit: { type: 'string', nullable: true, enum: ['c', 'f'] } },
              required: ['city'],
            },
          },
        ],
      },
    ]);
    expect(lastBody().toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    const toolCalls = first.choices[0]!.message.tool_calls!;
    expect(first.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null } });
    expect(toolCalls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);

    const second = await adapter.chat(
      call(
        {
          model: 'gemini-3-pro',
          tools: [weatherTool],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          messages: [
            { role: 'user', content: 'What is the weather in Paris?' },
            { role: 'assistant', content: null, tool_calls: toolCalls },
            { role: 'tool', tool_call_id: toolCalls[0]!.id, content: '{"temperature":21}' },
          ],
        },
        1,
      ),
    );
    const [, model, result] = lastBody().contents;
    expect(model).toEqual({ role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: expect.any(String) }] });
    // The signature Gemini sent with the call goes back with it.
    expect(Buffer.from(String(model!.parts[0]!.thoughtSignature), 'base64').toString()).toMatch(/^signature-/);
    expect(result).toEqual({ role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temperature: 21 } } }] });
    expect(lastBody().toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
    expect(second.choices[0]?.message.content).toBe('Fake Gemini read the result of get_weather: {"temperature":21}');

    // A call Gemini did not make here: Gemini 3 gets the documented bypass signature, older models none; plain-text results are wrapped.
    const foreign = (model: string): ChatRequest => ({
      model,
      tool_choice: 'none',
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [{ id: 'call_elsewhere', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_elsewhere', content: 'sunny' },
      ],
    });
    await adapter.chat(call(foreign('gemini-3-flash'), 1));
    expect(lastBody().contents[1]?.parts).toEqual([
      { text: 'Checking.' },
      { functionCall: { name: 'get_weather', args: { city: 'Rome' } }, thoughtSignature: 'skip_thought_signature_validator' },
    ]);
    expect(lastBody().contents[2]?.parts).toEqual([{ functionResponse: { name: 'get_weather', response: { content: 'sunny' } } }]);
    expect(lastBody().toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    await adapter.chat(call(foreign('gemini-2.5-flash'), 1));
    expect(lastBody().contents[1]?.parts[1]).toEqual({ functionCall: { name: 'get_weather', args: { city: 'Rome' } } });
  });

  it('reduces richer JSON Schema ($ref, allOf, oneOf, const) to what Gemini accepts', async () => {
    const tool: FunctionTool = {
      type: 'function',
      function: {
        name: 'book',
        parameters: {
          type: 'object',
          $defs: { place: { type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false } },
          properties: {
            from: { $ref: '#/$defs/place', description: 'Start' },
            mode: { oneOf: [{ const: 'train' }, { const: 'bus' }] },
            extra: { allOf: [{ type: 'object', properties: { seats: { type: 'integer', exclusiveMinimum: 0 } } }] },
          },
        },
      },
    };
    await adapter.chat(call({ ...user('book it'), tools: [tool] }, 1));
    expect((lastBody().tools as { functionDeclarations: { parameters: unknown }[] }[])[0]!.functionDeclarations[0]!.parameters).toEqual({
      type: 'object',
      properties: {
        from: { type: 'object', properties: { city: { type: 'string' } }, description: 'Start' },
        mode: { anyOf: [{ enum: ['train'] }, { enum: ['bus'] }] },
        extra: { type: 'object', properties: { seats: { type: 'integer' } } },
      },
    });
  });

  it('sends images: data URLs inline, http URLs as fileData with a guessed MIME type', async () => {
    const response = await adapter.chat(
      call(
        {
          model: 'gemini-2.5-flash',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is this?' },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
                { type: 'image_url', image_url: { url: 'https://example.com/cat.webp?size=large' } },
              ],
            },
          ],
        },
        1,
      ),
    );
    expect(lastBody().contents[0]?.parts).toEqual([
      { text: 'What is this?' },
      { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/cat.webp?size=large' } },
    ]);
    expect(response.choices[0]?.message.content).toBe('Fake Gemini reply to: What is this? (with image/png, image/webp)');
  });

  it('maps json_schema to responseJsonSchema by default, json_object to a MIME type, responseSchema on request', async () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { reply: { type: 'string' } },
      required: ['reply'],
      additionalProperties: false,
    };
    const response = await adapter.chat(
      call({ ...user('json please'), response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } }, 1),
    );
    const { $schema: _dropped, ...jsonSchema } = schema;
    expect(lastBody().generationConfig).toEqual({ responseMimeType: 'application/json', responseJsonSchema: jsonSchema });
    expect(JSON.parse(response.choices[0]!.message.content!)).toEqual({ reply: 'Fake Gemini reply to: json please' });

    await adapter.chat(call({ ...user('json please'), response_format: { type: 'json_object' } }, 1));
    expect(lastBody().generationConfig).toEqual({ responseMimeType: 'application/json' });

    const legacy = createGeminiAdapter(
      'legacy',
      geminiProviderConfig.parse({ type: 'gemini', baseUrl: fake.url, apiKey: KEY, structuredOutput: 'responseSchema' }),
      timeouts,
    );
    await legacy.chat(call({ ...user('json please'), response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } } }));
    expect(lastBody().generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: { type: 'object', properties: { reply: { type: 'string' } }, required: ['reply'] },
    });
    await legacy.close();
  });

  it('embeds through batchEmbedContents, OpenAI-shaped, with estimated usage', async () => {
    const response = await adapter.embeddings!(call({ model: 'gemini-embedding-001', input: ['hello', 'world!!!'], dimensions: 16 }, 1));
    expect(fake.requests.at(-1)?.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(fake.requests.at(-1)?.body).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'hello' }] }, outputDimensionality: 16 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'world!!!' }] }, outputDimensionality: 16 },
      ],
    });
    expect(response).toMatchObject({ object: 'list', model: 'gemini-embedding-001', usage: { prompt_tokens: 2 + 2, total_tokens: 4 } });
    expect(response.data.map((d) => [d.index, (d.embedding as number[]).length])).toEqual([
      [0, 16],
      [1, 16],
    ]);
    const encoded = await adapter.embeddings!(call({ model: 'gemini-embedding-001', input: 'hello', dimensions: 16, encoding_format: 'base64' as const }, 1));
    expect(Buffer.from(encoded.data[0]!.embedding as string, 'base64').length).toBe(16 * 4);
    expect((await failure(adapter.embeddings!(call({ model: 'gemini-embedding-001', input: [1, 2, 3] }, 1)))).kind).toBe('bad_request');
  });

  it('classifies Google errors', async () => {
    const chat = (model: string, credential = 1) => failure(adapter.chat(call(user('x', model), credential)));
    expect(await chat('fail-401')).toMatchObject({ kind: 'auth', upstreamStatus: 401 });
    expect(await chat('fail-403')).toMatchObject({ kind: 'auth', upstreamStatus: 403 });
    const badKey = await chat('gemini-2.5-flash', 0); // AI Studio answers a wrong key with 400 API_KEY_INVALID
    expect(badKey).toMatchObject({ kind: 'auth', upstreamStatus: 400 });
    expect(badKey.message).not.toContain('wrong-key');
    expect(await chat('fail-429')).toMatchObject({ kind: 'rate_limit', retryAfterMs: 1000 });
    expect(await chat('quota-exhausted')).toMatchObject({ kind: 'rate_limit', retryAfterMs: 2000 });
    expect(await chat('fail-500')).toMatchObject({ kind: 'server', upstreamStatus: 500 });
    expect(await chat('fail-503')).toMatchObject({ kind: 'server' });
    expect(await chat('too-long')).toMatchObject({ kind: 'context_window', upstreamStatus: 400 });
    expect(await chat('blocked')).toMatchObject({ kind: 'content_policy' });
    // Streams fail before resolving, where the router can still retry or fall back.
    expect(await failure(adapter.chatStream(call(user('x', 'blocked'), 1)))).toMatchObject({ kind: 'content_policy' });
    expect(await failure(adapter.chatStream(call(user('x', 'fail-429'), 1)))).toMatchObject({ kind: 'rate_limit' });
  });

  it('fails the iterator when the stream breaks, and times out a stalled call', async () => {
    const stream = await adapter.chatStream(call(user('x', 'break-stream'), 1));
    expect((await failure(collect(stream))).kind).toBe('network');
    const impatient = createGeminiAdapter('impatient', geminiProviderConfig.parse({ type: 'gemini', baseUrl: fake.url, apiKey: KEY }), {
      ...timeouts,
      firstByteMs: 200,
    });
    expect((await failure(impatient.chat(call(user('x', 'stall'))))).kind).toBe('timeout');
    await impatient.close();
  });
});

describe('vertex adapter against the fake Vertex AI API', () => {
  let account: TestServiceAccount;
  let fake: FakeGemini;
  let adapter: ProviderAdapter;
  const tokenRequests = () => fake.requests.filter((r) => r.path === '/token');
  const claims = (index: number) =>
    JSON.parse(Buffer.from(String(tokenRequests()[index]!.body.assertion).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

  beforeAll(async () => {
    account = createTestServiceAccount();
    fake = await startFakeGemini({ apiKey: KEY, serviceAccountPublicKey: account.publicKey });
    const config = vertexProviderConfig.parse({ type: 'vertex', baseUrl: fake.url, location: 'europe-west4', serviceAccount: account.keyJson(fake.tokenUrl) });
    adapter = createVertexAdapter('vertex', config, timeouts);
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('gets a token by the JWT bearer grant once, caches it, and calls the Vertex path', async () => {
    expect(adapter.capabilities.embeddings).toBe(false);
    const [a, b] = await Promise.all([adapter.chat(call(user('one'))), adapter.chat(call(user('two')))]);
    await adapter.chat(call(user('three')));
    expect([a.choices[0]?.message.content, b.choices[0]?.message.content]).toEqual(['Fake Gemini reply to: one', 'Fake Gemini reply to: two']);
    expect(tokenRequests()).toHaveLength(1);
    expect(tokenRequests()[0]!.body.grant_type).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(claims(0)).toMatchObject({ iss: account.clientEmail, aud: fake.tokenUrl, scope: 'https://www.googleapis.com/auth/cloud-platform' });
    const sent = fake.requests.at(-1)!;
    // No project configured: the key's project_id is used.
    expect(sent.path).toBe('/v1/projects/fake-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent');
    expect(sent.headers.authorization).toMatch(/^Bearer ya29\.fake-/);
  });

  it('streams over the Vertex path', async () => {
    const chunks = await collect(await adapter.chatStream(call(user('stream vertex'))));
    expect(fake.requests.at(-1)).toMatchObject({
      path: '/v1/projects/fake-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent',
      query: { alt: 'sse' },
    });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Fake Gemini reply to: stream vertex');
    expect(chunks.at(-1)?.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('drops its token when Vertex answers 401, and reports a refused key as auth', async () => {
    const before = tokenRequests().length;
    expect((await failure(adapter.chat(call(user('x', 'fail-401'))))).kind).toBe('auth');
    await adapter.chat(call(user('again')));
    expect(tokenRequests()).toHaveLength(before + 1);

    const stranger = createTestServiceAccount('stranger@other.iam.gserviceaccount.com');
    const config = vertexProviderConfig.parse({ type: 'vertex', project: 'p', baseUrl: fake.url, serviceAccount: stranger.keyJson(fake.tokenUrl) });
    const refused = createVertexAdapter('refused', config, timeouts);
    const err = await failure(refused.chat(call(user('x'))));
    expect(err).toMatchObject({ kind: 'auth', upstreamStatus: 400 });
    expect(err.message).toContain('Invalid JWT Signature');
    await refused.close();
  });

  it('re-reads serviceAccountFile at each refresh, so a rotated key needs no restart', async () => {
    const shortLived = await startFakeGemini({ apiKey: KEY, serviceAccountPublicKey: account.publicKey, tokenExpiresIn: 2 });
    const dir = await mkdtemp(join(tmpdir(), 'vertex-key-'));
    const file = join(dir, 'key.json');
    await writeFile(file, account.keyJson(shortLived.tokenUrl));
    const config = vertexProviderConfig.parse({ type: 'vertex', project: 'proj-1', location: 'global', baseUrl: shortLived.url, serviceAccountFile: file });
    const rotating = createVertexAdapter('rotating', config, timeouts);
    try {
      await rotating.chat(call(user('before')));
      await writeFile(file, account.keyJson(shortLived.tokenUrl, { client_email: 'rotated@fake-project.iam.gserviceaccount.com' }));
      await sleep(1_100); // tokens of 2 s are refreshed after 1 s
      await rotating.chat(call(user('after')));
      const issuers = shortLived.requests
        .filter((r) => r.path === '/token')
        .map((r) => JSON.parse(Buffer.from(String(r.body.assertion).split('.')[1]!, 'base64url').toString()).iss as string);
      expect(issuers).toEqual([account.clientEmail, 'rotated@fake-project.iam.gserviceaccount.com']);
      expect(shortLived.requests.at(-1)?.path).toBe('/v1/projects/proj-1/locations/global/publishers/google/models/gemini-2.5-flash:generateContent');
    } finally {
      await rotating.close();
      await shortLived.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
