import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, THINKING_TOKENS, type FakeAnthropic } from './anthropic.js';

const KEY = 'sk-ant-fake-provider-key';
const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

// The fake must be something the official SDK can call and parse, streaming included;
// otherwise tests that use it prove nothing.
describe('fake Anthropic provider, checked with the official @anthropic-ai/sdk', () => {
  let fake: FakeAnthropic;
  let client: Anthropic;

  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: KEY });
    client = new Anthropic({ baseURL: fake.url, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('answers messages.create with a message the SDK parses', async () => {
    const message = await client.messages.create({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'ping' }] });
    expect(message).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-test', stop_reason: 'end_turn', stop_sequence: null });
    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toEqual([{ type: 'text', text: 'Fake Anthropic reply to: ping' }]);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBe(5);
    expect(message.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(fake.requests.at(-1)).toMatchObject({ apiKey: KEY, body: { model: 'claude-test', max_tokens: 100 } });
    expect(fake.requests.at(-1)?.version).toBeTruthy();
  });

  it('cuts the reply at max_tokens and reports cache usage for the cached model', async () => {
    const short = await client.messages.create({ model: 'claude', max_tokens: 2, messages: [{ role: 'user', content: 'a long question' }] });
    expect(short.stop_reason).toBe('max_tokens');
    expect(short.content).toEqual([{ type: 'text', text: 'Fake Anthropic ' }]);
    const cached = await client.messages.create({ model: 'cached', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    expect(cached.usage).toMatchObject({ cache_read_input_tokens: 100, cache_creation_input_tokens: 20 });
  });

  it('thinks first when the model thinks, and counts cache writes for an hour when a block asks for it, whole and streamed', async () => {
    const system: Anthropic.TextBlockParam[] = [{ type: 'text', text: 'A long policy.', cache_control: { type: 'ephemeral', ttl: '1h' } }];
    const request = { model: 'cached-thinking', max_tokens: 100, system, messages: [{ role: 'user' as const, content: 'x' }] };
    const whole = await client.messages.create(request);
    expect(whole.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    expect(whole.usage).toMatchObject({
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 20,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 20 },
      output_tokens: 5 + THINKING_TOKENS,
      output_tokens_details: { thinking_tokens: THINKING_TOKENS },
    });
    const streamed = await client.messages.stream(request).finalMessage();
    expect(streamed.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    expect(streamed.usage).toEqual(whole.usage);
  });

  it('streams events that messages.stream assembles, with the exact event order', async () => {
    const stream = client.messages.stream({ model: 'claude', max_tokens: 100, messages: [{ role: 'user', content: 'stream please' }] });
    const types: string[] = [];
    let text = '';
    stream.on('streamEvent', (event) => types.push(event.type));
    stream.on('text', (delta) => (text += delta));
    const message = await stream.finalMessage();
    expect(text).toBe('Fake Anthropic reply to: stream please');
    expect(message.content).toEqual([{ type: 'text', text }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.output_tokens).toBe(6);
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      ...Array<string>(6).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('uses a tool when asked about the weather, plain and streamed', async () => {
    const params = { model: 'claude', max_tokens: 100, tools: [weatherTool], messages: [{ role: 'user' as const, content: "What's the weather in Paris?" }] };
    const message = await client.messages.create(params);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content[0]).toMatchObject({ type: 'text' });
    expect(message.content[1]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });
    expect((message.content[1] as Anthropic.ToolUseBlock).id).toMatch(/^toolu_/);

    const forced = await client.messages.stream({ ...params, tool_choice: { type: 'tool', name: 'get_weather' } }).finalMessage();
    expect(forced.content).toHaveLength(1);
    expect(forced.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });
    expect(forced.stop_reason).toBe('tool_use');

    const raw = await client.messages.create({ ...params, stream: true });
    let json = '';
    for await (const event of raw) {
      if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') json += event.delta.partial_json;
    }
    expect(JSON.parse(json)).toEqual({ city: 'Paris' });
  });

  it('answers a tool result', async () => {
    const message = await client.messages.create({
      model: 'claude',
      max_tokens: 100,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny, 21°C' }] },
      ],
    });
    expect(message.content).toEqual([{ type: 'text', text: 'Fake Anthropic reply to: Sunny, 21°C' }]);
  });

  it('fails in the shapes the SDK maps to its error classes', async () => {
    const call = (model: string, sdk = client) => sdk.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    const wrongKey = new Anthropic({ baseURL: fake.url, apiKey: 'sk-ant-wrong', maxRetries: 0 });
    await expect(call('claude', wrongKey)).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(call('fail-400')).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(call('fail-500')).rejects.toBeInstanceOf(Anthropic.InternalServerError);

    const limited = await call('fail-429').catch((err: unknown) => err);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as InstanceType<typeof Anthropic.RateLimitError>).headers.get('retry-after')).toBe('1');

    const overloaded = await call('fail-529').catch((err: unknown) => err);
    expect(overloaded).toBeInstanceOf(Anthropic.InternalServerError);
    expect(overloaded).toMatchObject({ status: 529, error: { type: 'error', error: { type: 'overloaded_error' } } });

    const tooLong = await call('too-long').catch((err: unknown) => err);
    expect(tooLong).toBeInstanceOf(Anthropic.BadRequestError);
    expect((tooLong as Error).message).toContain('prompt is too long');
  });

  it('refuses thinking settings the real API refuses: a budget under 1024 or not under max_tokens, a temperature but 1', async () => {
    const ask = (max_tokens: number, budget_tokens: number, temperature?: number) =>
      client.messages.create({
        model: 'claude',
        max_tokens,
        thinking: { type: 'enabled', budget_tokens },
        ...(temperature === undefined ? {} : { temperature }),
        messages: [{ role: 'user', content: 'x' }],
      });
    await expect(ask(4096, 1000)).rejects.toThrow('budget_tokens: Input should be greater than or equal to 1024');
    await expect(ask(2048, 2048)).rejects.toThrow('`max_tokens` must be greater than `thinking.budget_tokens`');
    await expect(ask(4096, 2048, 0.5)).rejects.toThrow('`temperature` may only be set to 1');
    const thought = await ask(2049, 2048, 1);
    expect(thought.content.map((block) => block.type)).toEqual(['thinking', 'text']);
  });

  it('reports a mid-stream error event as an SDK APIError', async () => {
    const stream = client.messages.stream({ model: 'error-stream', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toContain('Overloaded');
  });

  it('counts a prompt as messages.countTokens sends it: the input_tokens its message would bill, extra fields refused', async () => {
    const params = { model: 'claude-test', system: 'Be brief.', messages: [{ role: 'user' as const, content: 'count me' }], tools: [weatherTool] };
    const count = await client.messages.countTokens(params);
    const message = await client.messages.create({ ...params, max_tokens: 10 });
    expect(count).toEqual({ input_tokens: message.usage.input_tokens });
    expect(fake.requests.at(-2)?.path).toBe('/v1/messages/count_tokens');
    const extra = await client.messages.countTokens({ ...params, max_tokens: 10 } as never).catch((e: unknown) => e);
    expect(extra).toBeInstanceOf(Anthropic.BadRequestError);
    expect((extra as Error).message).toContain('max_tokens: Extra inputs are not permitted');
  });
});
