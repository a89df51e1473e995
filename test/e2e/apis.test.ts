import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

// Every inbound API the gateway serves, called with the official SDKs, in embedded mode.
describe('inbound APIs through the gateway', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;
  let anthropic: Anthropic;
  let key: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    gateway = await startInProcess({
      routing: {
        providers: { mock: { type: 'mock' }, openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-provider' } },
        models: { 'house-model': 'openai/gpt-4o-mini' },
      },
    });
    ({ key } = await gateway.createKey({ name: 'apis' }));
    openai = gateway.client(key);
    anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  it('legacy completions: native on an OpenAI-compatible provider, converted to chat on a chat-only one', async () => {
    const native = await openai.completions.create({ model: 'openai/gpt-3.5-turbo-instruct', prompt: 'Hello' });
    expect(native.choices[0]?.text).toBe(' completed: Hello');
    expect(fake.requests.at(-1)?.path).toBe('/v1/completions');

    const converted = await openai.completions.create({ model: 'mock/echo', prompt: 'Hello there', max_tokens: 50 });
    expect(converted.object).toBe('text_completion');
    expect(converted.choices[0]?.text).toBe('This is a mock response to: Hello there');

    let streamed = '';
    for await (const chunk of await openai.completions.create({ model: 'mock/echo', prompt: 'Stream it', stream: true }))
      streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe('This is a mock response to: Stream it');
  });

  it("embeddings, as floats and in the SDK's default base64", async () => {
    const floats = await openai.embeddings.create({ model: 'mock/embed', input: ['red apple', 'green apple'], encoding_format: 'float' });
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0]?.embedding).toHaveLength(64);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(0);
    const encoded = await openai.embeddings.create({ model: 'mock/embed', input: 'red apple' });
    expect(encoded.data[0]?.embedding).toEqual(floats.data[0]?.embedding.map((v) => Math.fround(v)));
    const viaProvider = await openai.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'one' });
    expect(viaProvider.data[0]?.embedding).toHaveLength(8);
  });

  it('the Responses API, whole and streamed, with tools, on any provider', async () => {
    const whole = await openai.responses.create({ model: 'mock/echo', instructions: 'Be brief.', input: 'What is up?' });
    expect(whole.output_text).toBe('This is a mock response to: What is up?');
    expect(whole.usage?.total_tokens).toBeGreaterThan(0);

    const stream = openai.responses.stream({ model: 'house-model', input: [{ role: 'user', content: 'Tell me a story' }] });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(deltas.join('')).toBe('Fake OpenAI reply to: Tell me a story');
    expect(final.output_text).toBe('Fake OpenAI reply to: Tell me a story');
    expect(final.status).toBe('completed');

    const tools = [{ type: 'function' as const, name: 'get_weather', parameters: weatherTool.function.parameters, strict: false }];
    const call = await openai.responses.create({ model: 'openai/gpt-4o-mini', input: 'What is the weather in Paris?', tools });
    const fc = call.output.find((item) => item.type === 'function_call');
    expect(fc?.type === 'function_call' && { name: fc.name, arguments: fc.arguments }).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    const streamedCall = await openai.responses.stream({ model: 'openai/gpt-4o-mini', input: 'weather in Paris please', tools }).finalResponse();
    expect(streamedCall.output.some((item) => item.type === 'function_call' && item.arguments === '{"city":"Paris"}')).toBe(true);
  });

  it('the Anthropic Messages API in front of an OpenAI-compatible provider, streaming and tools included', async () => {
    const message = await anthropic.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 100,
      system: 'Be kind.',
      messages: [{ role: 'user', content: 'Hi Claude' }],
    });
    expect(message.content).toEqual(
      [{ type: 'text', text: 'Fake OpenAI reply to: Hi Claude', citations: null }].map(({ citations: _c, ...rest }) => expect.objectContaining(rest)),
    );
    expect(fake.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi Claude' },
    ]);

    const stream = anthropic.messages.stream({ model: 'mock/echo', max_tokens: 100, messages: [{ role: 'user', content: 'Stream to me' }] });
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    expect(text).toBe('This is a mock response to: Stream to me');
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);

    const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];
    const toolUse = await anthropic.messages
      .stream({ model: 'openai/gpt-4o-mini', max_tokens: 100, tools, messages: [{ role: 'user', content: 'weather in Paris?' }] })
      .finalMessage();
    expect(toolUse.stop_reason).toBe('tool_use');
    expect(toolUse.content.find((b) => b.type === 'tool_use')).toMatchObject({ name: 'get_weather', input: { city: 'Paris' } });
  });

  it("answers Anthropic clients' errors in Anthropic's shape", async () => {
    const stranger = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: 'sk-gw-unknown', maxRetries: 0 });
    const unauthorized = await stranger.messages
      .create({ model: 'mock/echo', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((unauthorized as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });
    const invalid = await anthropic.messages.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] } as never).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(Anthropic.BadRequestError);
    expect((invalid as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('chat completions with tools, JSON mode, vision parts and parallel tool calls pass through to the provider', async () => {
    const completion = await openai.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'weather?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
      tools: [weatherTool],
      parallel_tool_calls: true,
      response_format: { type: 'json_object' },
      seed: 7,
      stop: ['END'],
      n: 1,
      logprobs: true,
    });
    expect(completion.choices[0]?.message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(fake.requests.at(-1)?.body).toMatchObject({
      model: 'gpt-4o-mini',
      parallel_tool_calls: true,
      response_format: { type: 'json_object' },
      seed: 7,
      stop: ['END'],
      logprobs: true,
    });
  });
});
