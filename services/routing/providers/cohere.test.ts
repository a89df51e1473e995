import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCohere, type FakeCohere } from '../../../test/fakes/cohere.js';
import { call, collect, failure } from '../../../test/harness/adapters.js';
import type { ChatChunk, ChatRequest, FunctionTool } from '../canonical.js';
import { cohereProviderConfig, createCohereAdapter } from './cohere.js';
import type { ProviderAdapter, Timeouts } from './types.js';

const TIMEOUTS: Timeouts = { connectMs: 2_000, firstByteMs: 500, idleMs: 500, totalMs: 5_000 };
const KEY = 'co-fake-provider-key';
const weatherTool: FunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

describe('Cohere adapter against the fake Cohere API', () => {
  let fake: FakeCohere;
  let adapter: ProviderAdapter;
  const lastBody = () => fake.requests.at(-1)!.body;

  beforeAll(async () => {
    fake = await startFakeCohere({ apiKey: KEY });
    adapter = createCohereAdapter(
      'cohere',
      cohereProviderConfig.parse({ type: 'cohere', baseUrl: fake.url, apiKey: KEY, models: ['command-a-03-2025'] }),
      TIMEOUTS,
    );
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('defaults to the public API and describes what it can do', () => {
    const config = cohereProviderConfig.parse({ type: 'cohere', apiKey: 'k' });
    expect(config.baseUrl).toBe('https://api.cohere.com');
    expect(adapter.capabilities).toEqual({
      streaming: true,
      tools: true,
      vision: true,
      embeddings: true,
      jsonSchema: true,
      completions: false,
      moderations: false,
      images: false,
      rerank: true,
      audio: false,
    });
    expect(adapter.models).toEqual(['command-a-03-2025']);
    expect(() => cohereProviderConfig.parse({ type: 'cohere', apiKey: 'k', apiVersion: 'x' })).toThrow();
  });

  it('translates a chat request and its answer', async () => {
    const response = await adapter.chat(
      call<ChatRequest>({
        model: 'command-a-03-2025',
        messages: [
          { role: 'developer', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in ' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
              { type: 'text', text: 'this picture?' },
            ],
          },
        ],
        temperature: 0.3,
        top_p: 0.9,
        max_tokens: 100,
        stop: 'never-said',
        seed: 7,
        frequency_penalty: 0.1,
        presence_penalty: null,
        n: 1,
        user: 'end-user-1',
        parallel_tool_calls: false,
      }),
    );
    expect(fake.requests.at(-1)?.authorization).toBe(`Bearer ${KEY}`);
    expect(lastBody()).toEqual({
      model: 'command-a-03-2025',
      stream: false,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in ' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
            { type: 'text', text: 'this picture?' },
          ],
        },
      ],
      temperature: 0.3,
      p: 0.9,
      max_tokens: 100,
      stop_sequences: ['never-said'],
      seed: 7,
      frequency_penalty: 0.1,
    });
    expect(response.object).toBe('chat.completion');
    expect(response.model).toBe('command-a-03-2025');
    expect(response.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: 'Fake Cohere reply to: What is in this picture?', refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ]);
    // Billed units (what Cohere charges), not the raw count with its prompt template.
    expect(response.usage).toEqual({ prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 });
  });

  it('maps finish reasons, JSON mode and logprobs', async () => {
    const cut = await adapter.chat(
      call<ChatRequest>({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'one two three' }], max_completion_tokens: 2 }),
    );
    expect(cut.choices[0]?.finish_reason).toBe('length');
    expect(cut.choices[0]?.message.content).toBe('Fake Cohere ');
    const stopped = await adapter.chat(call<ChatRequest>({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'hello' }], stop: ['reply'] }));
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.choices[0]?.message.content).toBe('Fake Cohere ');

    const schema = { type: 'object', properties: { answer: { type: 'string' } } };
    const json = await adapter.chat(
      call<ChatRequest>({
        model: 'command-a-03-2025',
        messages: [{ role: 'user', content: 'hi' }],
        response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
        logprobs: true,
      }),
    );
    expect(lastBody().response_format).toEqual({ type: 'json_object', json_schema: schema });
    expect(lastBody().logprobs).toBe(true);
    const logprobs = json.choices[0]?.logprobs as { content: { token: string; logprob: number }[] };
    expect(logprobs.content.map((entry) => entry.token).join('')).toBe('Fake Cohere reply to: hi');
    expect(logprobs.content[0]?.logprob).toBe(-0.25);

    await adapter.chat(
      call<ChatRequest>({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } }),
    );
    expect(lastBody().response_format).toEqual({ type: 'json_object' });
  });

  it("brings OpenAI sampling values into Cohere's ranges instead of having the request refused", async () => {
    await adapter.chat(
      call<ChatRequest>({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'hi' }], top_p: 1, frequency_penalty: -0.5, presence_penalty: 1.5 }),
    );
    expect(lastBody()).toMatchObject({ p: 0.99, frequency_penalty: 0, presence_penalty: 1 });
  });

  it('streams a role chunk, content deltas, a finish chunk and usage last', async () => {
    const chunks = await collect(
      await adapter.chatStream(call<ChatRequest>({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'stream please' }], stream: true })),
    );
    expect(lastBody().stream).toBe(true);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.model === 'command-a-03-2025')).toBe(true);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Fake Cohere reply to: stream please');
    const finish = chunks.at(-2)!;
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 2, completion_tokens: 6, total_tokens: 8 });
  });

  it('round-trips a tool call', async () => {
    const question: ChatRequest = {
      model: 'command-a-03-2025',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [weatherTool],
      tool_choice: 'auto',
    };
    const first = await adapter.chat(call(question));
    expect(lastBody().tools).toEqual([weatherTool]);
    expect(lastBody()).not.toHaveProperty('tool_choice');
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    // The tool plan is the text that precedes the calls.
    expect(choice.message.content).toBe('I will look up the weather in Paris.');
    expect(choice.message.tool_calls).toHaveLength(1);
    const toolCall = choice.message.tool_calls![0]!;
    expect(toolCall).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(toolCall.id).toMatch(/^get_weather_/);

    const second = await adapter.chat(
      call<ChatRequest>({
        ...question,
        messages: [
          ...question.messages,
          { role: 'assistant', content: choice.message.content, tool_calls: choice.message.tool_calls },
          { role: 'tool', tool_call_id: toolCall.id, content: [{ type: 'text', text: '{"temperature":21}' }] },
        ],
        tool_choice: 'required',
      }),
    );
    expect(lastBody().messages).toEqual([
      { role: 'user', content: 'What is the weather in Paris?' },
      {
        role: 'assistant',
        tool_plan: 'I will look up the weather in Paris.',
        tool_calls: [{ id: toolCall.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: toolCall.id, content: '{"temperature":21}' },
    ]);
    expect(lastBody().tool_choice).toBe('REQUIRED');
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content).toBe('Fake Cohere reply to: What is the weather in Paris?');
  });

  it('maps tool_choice none and a named tool, and strict tools', async () => {
    const otherTool: FunctionTool = { type: 'function', function: { name: 'get_time', strict: true } };
    await adapter.chat(
      call<ChatRequest>({
        model: 'command-a-03-2025',
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [weatherTool, otherTool],
        tool_choice: 'none',
      }),
    );
    expect(lastBody().tool_choice).toBe('NONE');
    expect(lastBody().strict_tools).toBe(true);
    // Cohere requires parameters; `strict` is not a Cohere tool field.
    expect((lastBody().tools as unknown[])[1]).toEqual({ type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } });

    const named = await adapter.chat(
      call<ChatRequest>({
        model: 'command-a-03-2025',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [weatherTool, otherTool],
        tool_choice: { type: 'function', function: { name: 'get_time' } },
      }),
    );
    expect(lastBody().tool_choice).toBe('REQUIRED');
    expect((lastBody().tools as { function: { name: string } }[]).map((tool) => tool.function.name)).toEqual(['get_time']);
    expect(named.choices[0]?.message.tool_calls?.[0]?.function.name).toBe('get_time');
    const unknown = await failure(
      adapter.chat(
        call<ChatRequest>({
          model: 'command-a-03-2025',
          messages: [{ role: 'user', content: 'hi' }],
          tools: [weatherTool],
          tool_choice: { type: 'function', function: { name: 'nope' } },
        }),
      ),
    );
    expect(unknown.kind).toBe('bad_request');
  });

  it('streams a tool call as indexed deltas: id and name first, then argument fragments', async () => {
    const chunks = await collect(
      await adapter.chatStream(
        call<ChatRequest>({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [weatherTool], stream: true }),
      ),
    );
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(deltas[0]?.id).toMatch(/^get_weather_/);
    expect(deltas.slice(1).every((delta) => delta.index === 0 && delta.id === undefined && delta.function?.name === undefined)).toBe(true);
    expect(JSON.parse(deltas.map((delta) => delta.function?.arguments ?? '').join(''))).toEqual({ city: 'Paris' });
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('I will look up the weather in Paris.');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('embeds texts, in batches of 96, as floats or base64', async () => {
    const before = fake.requests.length;
    const single = await adapter.embeddings!(call({ model: 'embed-v4.0', input: 'hello world', dimensions: 256 }));
    expect(fake.requests.at(-1)).toMatchObject({
      path: '/v2/embed',
      body: { model: 'embed-v4.0', texts: ['hello world'], input_type: 'search_document', embedding_types: ['float'], output_dimension: 256 },
    });
    expect(single).toMatchObject({ object: 'list', model: 'embed-v4.0', usage: { prompt_tokens: 2, total_tokens: 2 } });
    const vector = single.data[0]!.embedding as number[];
    expect(vector).toHaveLength(256);

    const many = await adapter.embeddings!(call({ model: 'embed-v4.0', input: Array.from({ length: 100 }, (_, i) => `text ${i}`) }));
    expect(fake.requests.length - before).toBe(3);
    expect(many.data.map((item) => item.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(many.usage.prompt_tokens).toBe(200);

    const encoded = await adapter.embeddings!(call({ model: 'embed-v4.0', input: ['hello world'], dimensions: 256, encoding_format: 'base64' }));
    const bytes = Buffer.from(encoded.data[0]!.embedding as string, 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    expect(decoded.map((x) => x.toFixed(5))).toEqual(vector.map((x) => x.toFixed(5)));

    const tokens = await failure(adapter.embeddings!(call({ model: 'embed-v4.0', input: [[1, 2, 3]] })));
    expect(tokens.kind).toBe('bad_request');
  });

  it('classifies Cohere errors', async () => {
    const chat = (model: string, credential = 0) => adapter.chat(call<ChatRequest>({ model, messages: [{ role: 'user', content: 'x' }] }, credential));
    const limited = await failure(chat('fail-429'));
    expect(limited).toMatchObject({ kind: 'rate_limit', upstreamStatus: 429, retryAfterMs: 1000, status: 429 });
    expect(limited.message).toContain('Trial key');
    expect((await failure(chat('fail-401'))).kind).toBe('auth');
    expect((await failure(chat('fail-498'))).kind).toBe('auth');
    expect((await failure(chat('fail-402'))).kind).toBe('payment');
    expect((await failure(chat('fail-400'))).kind).toBe('bad_request');
    expect((await failure(chat('fail-404'))).kind).toBe('bad_request');
    expect((await failure(chat('fail-499'))).kind).toBe('server');
    expect((await failure(chat('fail-500'))).kind).toBe('server');
    expect((await failure(chat('fail-503'))).kind).toBe('server');
    const tooLong = await failure(chat('too-long'));
    expect(tooLong).toMatchObject({ kind: 'context_window', code: 'context_length_exceeded', upstreamStatus: 400 });
    expect((await failure(chat('stall'))).kind).toBe('timeout');
    // Errors before the first event are thrown by chatStream itself.
    const streamed = await failure(adapter.chatStream(call<ChatRequest>({ model: 'fail-429', messages: [{ role: 'user', content: 'x' }], stream: true })));
    expect(streamed.kind).toBe('rate_limit');
  });

  it('rotates credentials: a refused key is an auth failure, the next one works', async () => {
    const rotating = createCohereAdapter('cohere', cohereProviderConfig.parse({ type: 'cohere', baseUrl: fake.url, apiKeys: ['co-revoked', KEY] }), TIMEOUTS);
    try {
      expect(rotating.credentialCount).toBe(2);
      const request: ChatRequest = { model: 'command-a-03-2025', messages: [{ role: 'user', content: 'x' }] };
      const refused = await failure(rotating.chat(call(request, 0)));
      expect(refused.kind).toBe('auth');
      expect(refused.message).not.toContain('co-revoked');
      await expect(rotating.chat(call(request, 1))).resolves.toMatchObject({ object: 'chat.completion' });
    } finally {
      await rotating.close();
    }
  });

  it('refuses content Cohere cannot take without calling it', async () => {
    const before = fake.requests.length;
    const err = await failure(
      adapter.chat(
        call<ChatRequest>({
          model: 'command-a-03-2025',
          messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] }],
        }),
      ),
    );
    expect(err.kind).toBe('bad_request');
    expect(fake.requests.length).toBe(before);
  });

  it('throws a ProviderError when the stream breaks', async () => {
    const stream = await adapter.chatStream(call<ChatRequest>({ model: 'break-stream', messages: [{ role: 'user', content: 'x' }], stream: true }));
    const received: ChatChunk[] = [];
    const err = await failure(
      (async () => {
        for await (const chunk of stream) received.push(chunk);
      })(),
    );
    expect(err.kind).toBe('network');
    expect(received.length).toBeGreaterThan(0);
  });
});
