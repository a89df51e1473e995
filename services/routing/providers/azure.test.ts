import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAzure, type FakeAzure } from '../../../test/fakes/azure.js';
import { FAKE_TRANSCRIPT, FAKE_TRANSLATION, fakeSpeech, wav } from '../../../test/fakes/openai-audio.js';
import { FAKE_PNG } from '../../../test/fakes/openai-images.js';
import { call, collect, failure } from '../../../test/harness/adapters.js';
import type { ChatRequest } from '../canonical.js';
import { azureProviderConfig, createAzureAdapter, type OpenAICompatibleAdapter } from './openai.js';
import type { Timeouts } from './types.js';

const TIMEOUTS: Timeouts = { connectMs: 2_000, firstByteMs: 500, idleMs: 500, totalMs: 5_000 };
const KEY = 'azure-fake-key';

describe('Azure OpenAI adapter against the fake Azure OpenAI', () => {
  let fake: FakeAzure;
  let adapter: OpenAICompatibleAdapter;
  const chatRequest = (model: string, content = 'ping'): ChatRequest => ({ model, messages: [{ role: 'user', content }] });
  const make = (overrides: Record<string, unknown> = {}) =>
    createAzureAdapter(
      'azure',
      azureProviderConfig.parse({
        type: 'azure',
        // A trailing slash, as the Azure portal shows endpoints.
        endpoint: `${fake.url}/`,
        apiKey: KEY,
        deployments: { 'gpt-4o': 'my-gpt4o', 'text-embedding-3-small': 'my-embeddings' },
        ...overrides,
      }),
      TIMEOUTS,
    );

  beforeAll(async () => {
    fake = await startFakeAzure({ apiKey: KEY, deployments: ['my-gpt4o', 'my-embeddings', 'gpt-4o-mini', 'tts', 'whisper', 'gpt-image-1'] });
    adapter = make();
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('calls the mapped deployment with the api-version and the api-key header', async () => {
    const response = await adapter.chat(call(chatRequest('gpt-4o')));
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'my-gpt4o', operation: 'chat/completions', apiVersion: '2024-10-21', apiKey: KEY });
    expect(fake.requests.at(-1)?.body).toMatchObject({ stream: false });
    expect(fake.requests.at(-1)?.body).not.toHaveProperty('stream_options');
    expect(response.object).toBe('chat.completion');
    expect(response.choices[0]?.message.content).toBe('Fake Azure OpenAI reply to: ping');
    expect(response.usage?.total_tokens).toBeGreaterThan(0);
    expect(adapter.type).toBe('azure');
  });

  it("speaks and transcribes at the deployment's audio paths, the audio and the form passed as they are", async () => {
    const spoken = await adapter.speech(call({ model: 'tts', input: 'hello', voice: 'alloy' }));
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'tts', operation: 'audio/speech', apiKey: KEY, body: { input: 'hello' } });
    expect(spoken).toEqual({ bytes: fakeSpeech('hello'), contentType: 'audio/mpeg' });
    const upload = { data: wav(1.5), filename: 'a.wav', contentType: 'audio/wav', field: 'file' };
    const request = { model: 'whisper', response_format: 'verbose_json', timestamp_granularities: ['word'] };
    const heard = await adapter.transcribe({ ...call(request), uploads: [upload], api: 'transcriptions' });
    expect(fake.requests.at(-1)).toMatchObject({
      deployment: 'whisper',
      operation: 'audio/transcriptions',
      body: {
        response_format: 'verbose_json',
        'timestamp_granularities[]': ['word'],
        file: { filename: 'a.wav', type: 'audio/wav', size: upload.data.length },
      },
    });
    expect(heard.contentType).toBe('application/json');
    expect(JSON.parse(heard.bytes.toString())).toMatchObject({ task: 'transcribe', duration: 1.5, text: FAKE_TRANSCRIPT });
    const translated = await adapter.transcribe({ ...call({ model: 'whisper', response_format: 'text' }), uploads: [upload], api: 'translations' });
    expect(translated).toEqual({ bytes: Buffer.from(`${FAKE_TRANSLATION}\n`), contentType: 'text/plain; charset=utf-8' });
  });

  it("makes and edits images at the deployment's images paths, the edit's images and mask sent as the client's form had them", async () => {
    const made = await adapter.images!(call({ model: 'gpt-image-1', prompt: 'a lighthouse', quality: 'high' }));
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'gpt-image-1', operation: 'images/generations', body: { quality: 'high' } });
    expect(made).toMatchObject({ quality: 'high', size: '1024x1024' });
    const png = { data: Buffer.from(FAKE_PNG, 'base64'), contentType: 'image/png' };
    const uploads = [
      { ...png, filename: 'a.png', field: 'image[]' },
      { ...png, filename: 'b.png', field: 'image[]' },
      { ...png, filename: 'm.png', field: 'mask' },
    ];
    const edited = await adapter.imageUpload({ ...call({ model: 'gpt-image-1', prompt: 'add a hat', n: 1 }), uploads, api: 'edits' });
    expect(fake.requests.at(-1)).toMatchObject({
      deployment: 'gpt-image-1',
      operation: 'images/edits',
      body: { prompt: 'add a hat', n: '1', 'image[]': [{ filename: 'a.png', type: 'image/png' }, { filename: 'b.png' }], mask: { filename: 'm.png' } },
    });
    expect((edited.data as { b64_json: string }[])[0]?.b64_json).toBe(FAKE_PNG);
  });

  it('uses a model with no mapping as the deployment name, and the configured api-version', async () => {
    const preview = make({ apiVersion: '2025-01-01-preview' });
    try {
      await preview.chat(call(chatRequest('gpt-4o-mini')));
      expect(fake.requests.at(-1)).toMatchObject({ deployment: 'gpt-4o-mini', apiVersion: '2025-01-01-preview' });
    } finally {
      await preview.close();
    }
  });

  it('streams with usage requested and the usage chunk last', async () => {
    const stream = await adapter.chatStream(call<ChatRequest>({ ...chatRequest('gpt-4o', 'stream please'), stream: true }));
    const chunks = await collect(stream);
    expect(fake.requests.at(-1)?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    // Azure opens with a prompt-filter chunk (empty choices, id and object); the adapter drops it.
    const openai = chunks.filter((chunk) => chunk.object === 'chat.completion.chunk');
    expect(openai).toHaveLength(chunks.length);
    expect(openai[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant' });
    expect(openai.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('Fake Azure OpenAI reply to: stream please');
    expect(openai.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 7 });
  });

  it('embeds on the mapped embeddings deployment', async () => {
    const response = await adapter.embeddings(call({ model: 'text-embedding-3-small', input: ['hello world', 'bye'], dimensions: 32 }));
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'my-embeddings', operation: 'embeddings', apiVersion: '2024-10-21', apiKey: KEY });
    expect(response.object).toBe('list');
    expect(response.data.map((item) => item.index)).toEqual([0, 1]);
    expect(response.data[0]?.embedding).toHaveLength(32);
    expect(response.usage.prompt_tokens).toBe(3);
  });

  it('classifies a content filter refusal as content_policy', async () => {
    const err = await failure(adapter.chat(call(chatRequest('gpt-4o', 'tell me something forbidden'))));
    expect(err).toMatchObject({ kind: 'content_policy', code: 'content_policy_violation', upstreamStatus: 400, status: 400 });
    expect(err.message).toContain('content management policy');
    // Also when the prompt is refused before a stream starts.
    const streamed = await failure(adapter.chatStream(call<ChatRequest>({ ...chatRequest('gpt-4o', 'forbidden'), stream: true })));
    expect(streamed.kind).toBe('content_policy');
  });

  it('classifies a refused key as auth, without quoting the provider text', async () => {
    const wrong = make({ apiKey: 'wrong-key' });
    try {
      const err = await failure(wrong.chat(call(chatRequest('gpt-4o'))));
      expect(err).toMatchObject({ kind: 'auth', upstreamStatus: 401 });
      expect(err.message).not.toContain('subscription key');
    } finally {
      await wrong.close();
    }
  });

  it('classifies 429 as rate_limit with the retry delay, and 5xx as server', async () => {
    const limited = await failure(adapter.chat(call(chatRequest('fail-429'))));
    expect(limited).toMatchObject({ kind: 'rate_limit', upstreamStatus: 429, retryAfterMs: 2000, status: 429 });
    expect((await failure(adapter.chat(call(chatRequest('fail-500'))))).kind).toBe('server');
    expect((await failure(adapter.chat(call(chatRequest('fail-503'))))).kind).toBe('server');
    expect((await failure(adapter.chat(call(chatRequest('stall'))))).kind).toBe('timeout');
  });

  it("reports an unknown deployment as the provider's 404", async () => {
    const err = await failure(adapter.chat(call(chatRequest('no-such-deployment'))));
    expect(err).toMatchObject({ kind: 'bad_request', upstreamStatus: 404 });
  });

  it('throws a ProviderError when the stream breaks', async () => {
    const stream = await adapter.chatStream(call<ChatRequest>({ ...chatRequest('break-stream'), stream: true }));
    const err = await failure(
      (async () => {
        for await (const _chunk of stream) void _chunk;
      })(),
    );
    expect(err.kind).toBe('network');
  });
});
