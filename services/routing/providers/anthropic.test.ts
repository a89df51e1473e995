import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../../../test/fakes/anthropic.js';
import { call, collect, failure, TEST_TIMEOUTS as timeouts } from '../../../test/harness/adapters.js';
import type { ChatRequest, FunctionTool } from '../canonical.js';
import { anthropicProviderConfig, createAnthropicAdapter } from './anthropic.js';
import { JSON_OBJECT_INSTRUCTION } from './anthropic-mapping.js';
import type { ProviderAdapter } from './types.js';

const KEY = 'sk-ant-fake-provider-key';
const weatherTool: FunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};
const user = (content: string): ChatRequest => ({ model: 'claude-test', messages: [{ role: 'user', content }] });

describe('anthropic adapter against the fake Anthropic API', () => {
  let fake: FakeAnthropic;
  let adapter: ProviderAdapter;
  const lastBody = () => fake.requests.at(-1)!.body;

  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: KEY });
    const config = anthropicProviderConfig.parse({ type: 'anthropic', baseUrl: fake.url, apiKeys: ['sk-ant-wrong', KEY], defaultMaxTokens: 1234 });
    adapter = createAnthropicAdapter('claude', config, timeouts);
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('fills config defaults and declares its capabilities', () => {
    const config = anthropicProviderConfig.parse({ type: 'anthropic', apiKey: 'k' });
    expect(config).toMatchObject({ baseUrl: 'https://api.anthropic.com', version: '2023-06-01', defaultMaxTokens: 4096, models: [] });
    expect(() => anthropicProviderConfig.parse({ type: 'anthropic', endpoint: 'x' })).toThrow();
    expect(adapter.capabilities).toEqual({
      streaming: true,
      tools: true,
      vision: true,
      embeddings: false,
      jsonSchema: true,
      completions: false,
      moderations: false,
      images: false,
      rerank: false,
      audio: false,
    });
    expect(adapter.credentialCount).toBe(2);
  });

  it('chats: sends x-api-key, anthropic-version and a default max_tokens, and maps the reply', async () => {
    const response = await adapter.chat(call({ ...user('ping'), temperature: 0.2, top_p: 0.9, stop: 'END', user: 'u-1' }, 1));
    expect(fake.requests.at(-1)).toMatchObject({ apiKey: KEY, keyHeader: 'x-api-key', version: '2023-06-01' });
    expect(lastBody()).toEqual({
      model: 'claude-test',
      max_tokens: 1234,
      messages: [{ role: 'user', content: 'ping' }],
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
    });
    expect(response).toMatchObject({ object: 'chat.completion', model: 'claude-test' });
    expect(response.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'Fake Anthropic reply to: ping', refusal: null }, finish_reason: 'stop', logprobs: null },
    ]);
    const usage = response.usage!;
    expect(usage.completion_tokens).toBe(5);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + 5);
  });

  it('maps max_completion_tokens and a max_tokens stop to length, and refusal to content_filter', async () => {
    const cut = await adapter.chat(call({ ...user('a long question'), max_completion_tokens: 2, max_tokens: 50 }, 1));
    expect(lastBody().max_tokens).toBe(2);
    expect(cut.choices[0]?.finish_reason).toBe('length');
    const refused = await adapter.chat(call({ ...user('x'), model: 'refuse' }, 1));
    expect(refused.choices[0]?.finish_reason).toBe('content_filter');
  });

  it('streams role, text, finish and a usage-only chunk, the way OpenAI does with include_usage', async () => {
    const chunks = await collect(await adapter.chatStream(call(user('stream please'), 1)));
    expect(lastBody().stream).toBe(true);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Fake Anthropic reply to: stream please');
    const finish = chunks.at(-2)!;
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 6, prompt_tokens: expect.any(Number) as number });
    expect(last.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
  });

  it('streams a tool call as OpenAI tool_call deltas', async () => {
    const request: ChatRequest = { ...user("What's the weather in Paris?"), tools: [weatherTool], parallel_tool_calls: false };
    const chunks = await collect(await adapter.chatStream(call(request, 1)));
    expect(lastBody().tools).toEqual([{ name: 'get_weather', description: 'Current weather', input_schema: weatherTool.function.parameters }]);
    expect(lastBody().tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe("I'll look up the weather.");
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(deltas[0]?.id).toMatch(/^toolu_/);
    expect(deltas.slice(1).every((d) => d.index === 0 && d.id === undefined)).toBe(true);
    expect(JSON.parse(deltas.map((d) => d.function?.arguments ?? '').join(''))).toEqual({ city: 'Paris' });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(12);
  });

  it('round-trips tools: tool_calls become tool_use, tool results become user tool_result blocks', async () => {
    const first = await adapter.chat(call({ ...user('weather in Paris?'), tools: [weatherTool], tool_choice: 'required' }, 1));
    expect(lastBody().tool_choice).toEqual({ type: 'any' });
    const toolCall = first.choices[0]!.message.tool_calls![0]!;
    expect(first.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null } });
    expect(toolCall).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });

    const second = await adapter.chat(
      call(
        {
          model: 'claude-test',
          tools: [weatherTool],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'weather in Paris?' },
            {
              role: 'assistant',
              content: 'Checking.',
              tool_calls: [toolCall, { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '' } }],
            },
            { role: 'tool', tool_call_id: toolCall.id, content: 'Sunny, 21°C' },
            { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'Cloudy' }] },
            { role: 'user', content: 'And tomorrow?' },
          ],
        },
        1,
      ),
    );
    expect(lastBody().system).toBe('Be brief.');
    expect(lastBody().tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(lastBody().messages).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: toolCall.id, name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: toolCall.id, content: 'Sunny, 21°C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: 'Cloudy' },
          { type: 'text', text: 'And tomorrow?' },
        ],
      },
    ]);
    expect(second.choices[0]?.message.content).toBe('Fake Anthropic reply to: Sunny, 21°C Cloudy And tomorrow?');
  });

  it('refuses tool arguments that are not a JSON object before calling the provider', async () => {
    const sent = fake.requests.length;
    const err = await failure(
      adapter.chat(
        call(
          { model: 'claude-test', messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1' } }] }] },
          1,
        ),
      ),
    );
    expect(err.kind).toBe('bad_request');
    expect(fake.requests.length).toBe(sent);
  });

  it('sends images as image blocks: data URLs as base64, http(s) URLs as url sources', async () => {
    await adapter.chat(
      call(
        {
          model: 'claude-test',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is in these?' },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
                { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
              ],
            },
          ],
        },
        1,
      ),
    );
    expect(lastBody().messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it('keeps cache_control on system and user text, merging system and developer messages', async () => {
    await adapter.chat(
      call(
        {
          model: 'claude-test',
          messages: [
            { role: 'system', content: [{ type: 'text', text: 'Long reference text.', cache_control: { type: 'ephemeral' } }] },
            { role: 'developer', content: 'Answer in French.' },
            { role: 'user', content: [{ type: 'text', text: 'Question', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
          ],
        },
        1,
      ),
    );
    expect(lastBody().system).toEqual([
      { type: 'text', text: 'Long reference text.', cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Answer in French.' },
    ]);
    expect(lastBody().messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Question', cache_control: { type: 'ephemeral', ttl: '1h' } }] }]);
  });

  it('maps response_format: json_schema to output_config.format, json_object to a system instruction', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    await adapter.chat(call({ ...user('x'), response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } }, 1));
    expect(lastBody().output_config).toEqual({ format: { type: 'json_schema', schema } });
    await adapter.chat(call({ ...user('x'), response_format: { type: 'json_object' } }, 1));
    expect(lastBody().system).toBe(JSON_OBJECT_INSTRUCTION);
  });

  it('counts cache reads and writes into prompt_tokens, plain and streamed', async () => {
    const response = await adapter.chat(call({ ...user('x'), model: 'cached' }, 1));
    const input = response.usage!.prompt_tokens - 120;
    expect(input).toBeGreaterThan(0);
    expect(response.usage).toMatchObject({ prompt_tokens_details: { cached_tokens: 100 }, cache_creation_input_tokens: 20 });
    const chunks = await collect(await adapter.chatStream(call({ ...user('x'), model: 'cached' }, 1)));
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: input + 120, prompt_tokens_details: { cached_tokens: 100 }, cache_creation_input_tokens: 20 });
  });

  it('classifies errors so the router can retry, rotate or fall back', async () => {
    const auth = await failure(adapter.chat(call(user('x'), 0)));
    expect(auth).toMatchObject({ kind: 'auth', upstreamStatus: 401 });
    expect(auth.message).not.toContain('sk-ant');
    expect(await failure(adapter.chat(call({ ...user('x'), model: 'fail-429' }, 1)))).toMatchObject({ kind: 'rate_limit', retryAfterMs: 1000, status: 429 });
    expect(await failure(adapter.chat(call({ ...user('x'), model: 'fail-529' }, 1)))).toMatchObject({ kind: 'server', upstreamStatus: 529 });
    expect(await failure(adapter.chat(call({ ...user('x'), model: 'fail-500' }, 1)))).toMatchObject({ kind: 'server' });
    expect(await failure(adapter.chat(call({ ...user('x'), model: 'fail-402' }, 1)))).toMatchObject({ kind: 'payment' });
    expect(await failure(adapter.chat(call({ ...user('x'), model: 'too-long' }, 1)))).toMatchObject({
      kind: 'context_window',
      code: 'context_length_exceeded',
    });
    const bad = await failure(adapter.chat(call({ ...user('x'), model: 'fail-400' }, 1)));
    expect(bad).toMatchObject({ kind: 'bad_request', status: 400 });
    expect(bad.message).toContain('text content blocks must be non-empty');
    // Errors before the stream begins are thrown by chatStream itself.
    expect(await failure(adapter.chatStream(call({ ...user('x'), model: 'fail-529' }, 1)))).toMatchObject({ kind: 'server' });
  });

  it('throws a ProviderError from the iterator when the stream breaks or reports an error', async () => {
    const broken = await adapter.chatStream(call({ ...user('x'), model: 'break-stream' }, 1));
    expect(await failure(collect(broken))).toMatchObject({ kind: 'network' });
    const overloaded = await adapter.chatStream(call({ ...user('x'), model: 'error-stream' }, 1));
    const err = await failure(collect(overloaded));
    expect(err.kind).toBe('server');
    expect(err.message).toContain('overloaded_error');
  });

  it("fails an answer without the documented shape as the provider's fault, never with a JavaScript message", async () => {
    const whole = await failure(adapter.chat(call({ ...user('x'), model: 'malformed' }, 1)));
    const streamed = await failure(adapter.chatStream(call({ ...user('x'), model: 'malformed' }, 1)).then(collect));
    for (const error of [whole, streamed]) {
      expect(error).toMatchObject({ kind: 'server', code: 'upstream_error', status: 502 });
      expect(error.message).toBe('Provider claude sent an answer that could not be read: it does not have the shape its API documents.');
    }
  });

  it('times out a provider that never answers', async () => {
    const config = anthropicProviderConfig.parse({ type: 'anthropic', baseUrl: fake.url, apiKey: KEY });
    const slow = createAnthropicAdapter('slow', config, { ...timeouts, firstByteMs: 200 });
    try {
      expect(await failure(slow.chat(call({ ...user('x'), model: 'stall' })))).toMatchObject({ kind: 'timeout' });
    } finally {
      await slow.close();
    }
  });
});
