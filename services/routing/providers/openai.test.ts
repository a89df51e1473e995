import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../../../test/fakes/openai.js';
import { call, collect, failure } from '../../../test/harness/adapters.js';
import type { ChatRequest } from '../canonical.js';
import { createOpenAIAdapter, openAIProviderConfig, type OpenAICompatibleAdapter } from './openai.js';

const timeouts = { connectMs: 1_000, firstByteMs: 1_000, idleMs: 1_000, totalMs: 5_000 };
const KEY = 'sk-adapter-test-key-123';

const chat = (model: string, content = 'hi'): ChatRequest => ({ model, messages: [{ role: 'user', content }] });

describe('OpenAI-compatible adapter', () => {
  let fake: FakeOpenAI;
  let adapter: OpenAICompatibleAdapter;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: KEY });
    adapter = createOpenAIAdapter('openai', openAIProviderConfig('openai').parse({ type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: KEY }), timeouts);
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('chats, streams with usage requested, and calls tools', async () => {
    const answer = await adapter.chat(call(chat('gpt-4o-mini', 'hello')));
    expect(answer.choices[0]?.message.content).toBe('Fake OpenAI reply to: hello');
    expect(fake.requests.at(-1)?.authorization).toBe(`Bearer ${KEY}`);

    const chunks = await collect(await adapter.chatStream(call({ ...chat('gpt-4o-mini', 'stream'), stream: true })));
    expect(fake.requests.at(-1)?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Fake OpenAI reply to: stream');
    expect(chunks.at(-1)?.usage?.total_tokens).toBeGreaterThan(0);

    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const toolAnswer = await adapter.chat(call({ ...chat('gpt-4o-mini', 'weather in Paris?'), tools }));
    expect(toolAnswer.choices[0]?.message.tool_calls?.[0]?.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
  });

  it('serves embeddings and native completions', async () => {
    const embeddings = await adapter.embeddings(call({ model: 'text-embedding-3-small', input: 'one two' }));
    expect(embeddings.data[0]?.embedding).toHaveLength(8);
    const completion = await adapter.completions(call({ model: 'gpt-3.5-turbo-instruct', prompt: 'Go' }));
    expect((completion.choices as { text: string }[])[0]?.text).toBe(' completed: Go');
    expect(fake.requests.at(-1)?.path).toBe('/v1/completions');
  });

  it('classifies provider errors for the router, without quoting the provider key', async () => {
    expect(await failure(adapter.chat(call(chat('fail-429'))))).toMatchObject({ kind: 'rate_limit', retryAfterMs: 1000, status: 429 });
    expect(await failure(adapter.chat(call(chat('fail-500'))))).toMatchObject({ kind: 'server', status: 502 });
    expect(await failure(adapter.chat(call(chat('fail-400'))))).toMatchObject({ kind: 'bad_request', status: 400 });
    expect(await failure(adapter.chat(call(chat('too-long'))))).toMatchObject({ kind: 'context_window', code: 'context_length_exceeded' });
    const wrongKey = createOpenAIAdapter(
      'openai',
      openAIProviderConfig('openai').parse({ type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-wrong-key-999' }),
      timeouts,
    );
    const auth = await failure(wrongKey.chat(call(chat('gpt-4o-mini'))));
    expect(auth).toMatchObject({ kind: 'auth', status: 502 });
    expect(auth.message).not.toContain('sk-');
    await wrongKey.close();
  });

  it("fails an answer without the documented shape as the provider's fault, saying what was missing", async () => {
    const whole = await failure(adapter.chat(call(chat('malformed'))));
    const streamed = await failure(adapter.chatStream(call({ ...chat('malformed'), stream: true })).then(collect));
    for (const error of [whole, streamed]) {
      expect(error).toMatchObject({ kind: 'server', code: 'upstream_error', status: 502 });
      expect(error.message).toBe(
        'Provider openai sent an answer that could not be read (choices is not an array): it does not have the shape its API documents.',
      );
    }
  });

  it('fails a stream that breaks, or that ends before it is complete', async () => {
    for (const model of ['break-stream', 'cut-stream']) {
      const stream = await adapter.chatStream(call({ ...chat(model), stream: true }));
      const error = await failure(
        (async () => {
          for await (const chunk of stream) void chunk;
        })(),
      );
      expect(error.kind).toBe('network');
    }
    expect(await failure(adapter.chatStream(call({ ...chat('stall'), stream: true })))).toMatchObject({ kind: 'timeout' });
  });
});
