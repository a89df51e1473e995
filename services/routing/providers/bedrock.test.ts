import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBedrock, type FakeBedrock } from '../../../test/fakes/bedrock.js';
import { collect, failure, TEST_TIMEOUTS as timeouts } from '../../../test/harness/adapters.js';
import type { ChatChunk, ChatRequest, FunctionTool } from '../canonical.js';
import { type BedrockAdapter, bedrockProviderConfig, createBedrockAdapter } from './bedrock.js';
import { readEventStream } from './bedrock-stream.js';
import type { Timeouts } from './types.js';

const region = 'us-west-2';
const good = { accessKeyId: 'AKIAFAKEBEDROCKGOOD1', secretAccessKey: 'good/secret+key' };
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const weather: FunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

function adapterFor(fake: FakeBedrock, credentials: { accessKeyId: string; secretAccessKey: string }[], t: Timeouts = timeouts): BedrockAdapter {
  return createBedrockAdapter('bedrock', bedrockProviderConfig.parse({ type: 'bedrock', region, baseUrl: fake.url, credentials }), t);
}

const signal = () => AbortSignal.timeout(10_000);
const user = (content: string): ChatRequest['messages'][number] => ({ role: 'user', content });

describe('Bedrock adapter against the fake Bedrock Converse API', () => {
  let fake: FakeBedrock;
  let adapter: BedrockAdapter;

  beforeAll(async () => {
    fake = await startFakeBedrock({ region, ...good });
    adapter = adapterFor(fake, [good]);
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  const lastBody = () => fake.requests.at(-1)!.body;

  it('signs a Converse call for a model id with ":" and maps request and response', async () => {
    const response = await adapter.chat({
      request: {
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Answer in English.' }] },
          user('hello'),
          user('there'),
        ],
        max_tokens: 100,
        temperature: 0.2,
        top_p: 0.9,
        stop: 'END',
      },
      credential: 0,
      signal: signal(),
    });
    expect(response.object).toBe('chat.completion');
    expect(response.model).toBe(MODEL);
    expect(response.choices[0]).toMatchObject({ message: { role: 'assistant', content: 'Fake Bedrock reply to: hello there' }, finish_reason: 'stop' });
    const usage = response.usage!;
    expect(usage.completion_tokens).toBe(6);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    expect(fake.requests.at(-1)).toMatchObject({ operation: 'converse', modelId: MODEL, accessKeyId: good.accessKeyId });
    expect(lastBody()).toEqual({
      system: [{ text: 'Be brief.' }, { text: 'Answer in English.' }],
      // Consecutive user messages become one turn: Converse wants the roles to alternate.
      messages: [{ role: 'user', content: [{ text: 'hello' }, { text: 'there' }] }],
      inferenceConfig: { maxTokens: 100, temperature: 0.2, topP: 0.9, stopSequences: ['END'] },
    });
  });

  it('places cache points after marked parts and counts cache tokens into prompt_tokens', async () => {
    const response = await adapter.chat({
      request: {
        model: MODEL,
        messages: [{ role: 'system', content: [{ type: 'text', text: 'Long policy text.', cache_control: { type: 'ephemeral' } }] }, user('hi')],
      },
      credential: 0,
      signal: signal(),
    });
    expect(lastBody().system).toEqual([{ text: 'Long policy text.' }, { cachePoint: { type: 'default' } }]);
    const usage = response.usage!;
    const input = Math.ceil(JSON.stringify(lastBody().messages).length / 4);
    expect(usage.prompt_tokens).toBe(input + 7 + 3);
    expect(usage.prompt_tokens_details?.cached_tokens).toBe(7);
    expect(usage.cache_creation_input_tokens).toBe(3);
  });

  it('streams the role, text, a tool call and a last usage-only chunk', async () => {
    const stream = await adapter.chatStream({
      request: { model: MODEL, messages: [user('weather in Paris?')], tools: [weather], stream: true },
      credential: 0,
      signal: signal(),
    });
    const chunks = await collect(stream);
    expect(fake.requests.at(-1)?.operation).toBe('converse-stream');
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Fake Bedrock reply to: weather in Paris?');
    const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(toolDeltas[0]?.id).toMatch(/^tooluse_/);
    expect(toolDeltas.every((d) => d.index === 0)).toBe(true);
    expect(JSON.parse(toolDeltas.map((d) => d.function?.arguments ?? '').join(''))).toEqual({ city: 'Paris' });
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe('tool_calls');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('round-trips a tool call: toolConfig, toolUse and toolResult blocks', async () => {
    const first = await adapter.chat({
      request: { model: MODEL, messages: [user('What is the weather in Paris?')], tools: [weather] },
      credential: 0,
      signal: signal(),
    });
    expect(lastBody().toolConfig).toEqual({
      tools: [{ toolSpec: { name: 'get_weather', description: 'Current weather', inputSchema: { json: weather.function.parameters } } }],
    });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const call = choice.message.tool_calls![0]!;
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });

    const second = await adapter.chat({
      request: {
        model: MODEL,
        messages: [
          user('What is the weather in Paris?'),
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: '{"temperature":21}' },
          { role: 'tool', tool_call_id: 'second', content: 'sunny' },
        ],
        tools: [weather],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      },
      credential: 0,
      signal: signal(),
    });
    expect(lastBody().messages).toEqual([
      { role: 'user', content: [{ text: 'What is the weather in Paris?' }] },
      { role: 'assistant', content: [{ toolUse: { toolUseId: call.id, name: 'get_weather', input: { city: 'Paris' } } }] },
      {
        role: 'user',
        content: [
          { toolResult: { toolUseId: call.id, content: [{ json: { temperature: 21 } }] } },
          { toolResult: { toolUseId: 'second', content: [{ text: 'sunny' }] } },
        ],
      },
    ]);
    expect(lastBody().toolConfig?.toolChoice).toEqual({ tool: { name: 'get_weather' } });
    expect(second.choices[0]?.message.content).toContain('Fake Bedrock reply to: {"temperature":21} sunny');
  });

  it("maps tool_choice 'required' to any, and 'none' to no tools with past tool turns as text", async () => {
    await adapter.chat({ request: { model: MODEL, messages: [user('hi')], tools: [weather], tool_choice: 'required' }, credential: 0, signal: signal() });
    expect(lastBody().toolConfig?.toolChoice).toEqual({ any: {} });

    const call = { id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Rome"}' } };
    const response = await adapter.chat({
      request: {
        model: MODEL,
        messages: [user('weather?'), { role: 'assistant', tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_1', content: 'rainy' }, user('thanks')],
        tools: [weather],
        tool_choice: 'none',
      },
      credential: 0,
      signal: signal(),
    });
    expect(response.choices[0]?.finish_reason).toBe('stop');
    expect(lastBody().toolConfig).toBeUndefined();
    expect(lastBody().messages).toEqual([
      { role: 'user', content: [{ text: 'weather?' }] },
      { role: 'assistant', content: [{ text: '[Called tool get_weather with {"city":"Rome"}]' }] },
      { role: 'user', content: [{ text: '[Result of tool call call_1: rainy]' }, { text: 'thanks' }] },
    ]);
  });

  it('sends a data URL image as bytes and refuses an http image URL', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
    await adapter.chat({
      request: {
        model: MODEL,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            ],
          },
        ],
      },
      credential: 0,
      signal: signal(),
    });
    expect(lastBody().messages?.[0]?.content).toEqual([{ text: 'What is this?' }, { image: { format: 'png', source: { bytes: png } } }]);

    const count = fake.requests.length;
    const err = await failure(
      adapter.chat({
        request: { model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] },
        credential: 0,
        signal: signal(),
      }),
    );
    expect(err.kind).toBe('bad_request');
    expect(fake.requests.length).toBe(count);
  });

  it('asks for native structured output for a json_schema response format', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    await adapter.chat({
      request: { model: MODEL, messages: [user('json please')], response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } } },
      credential: 0,
      signal: signal(),
    });
    expect(lastBody().outputConfig).toEqual({
      textFormat: { type: 'json_schema', structure: { jsonSchema: { schema: JSON.stringify(schema), name: 'answer' } } },
    });
  });

  it('uses the key pair the router picks', async () => {
    const rotating = adapterFor(fake, [{ accessKeyId: 'AKIAUNKNOWNKEY000001', secretAccessKey: 'x' }, good]);
    try {
      expect(rotating.credentialCount).toBe(2);
      const refused = await failure(rotating.chat({ request: { model: MODEL, messages: [user('hi')] }, credential: 0, signal: signal() }));
      expect(refused).toMatchObject({ kind: 'auth', upstreamStatus: 403 });
      const response = await rotating.chat({ request: { model: MODEL, messages: [user('hi')] }, credential: 1, signal: signal() });
      expect(response.choices[0]?.message.content).toBe('Fake Bedrock reply to: hi');
      expect(fake.requests.at(-1)?.accessKeyId).toBe(good.accessKeyId);
    } finally {
      await rotating.close();
    }
  });

  it('classifies Bedrock errors for the router', async () => {
    const kindOf = async (model: string) => (await failure(adapter.chat({ request: { model, messages: [user('x')] }, credential: 0, signal: signal() }))).kind;
    expect(await kindOf('fail-429')).toBe('rate_limit');
    expect(await kindOf('too-long')).toBe('context_window');
    expect(await kindOf('fail-500')).toBe('server');
    expect(await kindOf('fail-503')).toBe('server');
    expect(await kindOf('fail-408')).toBe('timeout');
    expect(await kindOf('fail-403')).toBe('auth');
    expect(await kindOf('fail-400')).toBe('bad_request');

    const wrongSecret = adapterFor(fake, [{ ...good, secretAccessKey: 'not-the-secret' }]);
    try {
      const err = await failure(wrongSecret.chat({ request: { model: MODEL, messages: [user('x')] }, credential: 0, signal: signal() }));
      expect(err).toMatchObject({ kind: 'auth', upstreamStatus: 403 });
      expect(err.message).toContain('InvalidSignatureException');
      const streamErr = await failure(wrongSecret.chatStream({ request: { model: MODEL, messages: [user('x')] }, credential: 0, signal: signal() }));
      expect(streamErr.kind).toBe('auth');
    } finally {
      await wrongSecret.close();
    }
  });

  it('fails a stream mid-way with a ProviderError on an exception frame or a dropped connection', async () => {
    const throttled = await adapter.chatStream({ request: { model: 'stream-throttle', messages: [user('x')] }, credential: 0, signal: signal() });
    const seen: ChatChunk[] = [];
    const err = await failure(
      (async () => {
        for await (const chunk of throttled) seen.push(chunk);
      })(),
    );
    expect(err.kind).toBe('rate_limit');
    expect(err.message).toContain('throttlingException');
    expect(seen.length).toBe(2);

    const broken = await adapter.chatStream({ request: { model: 'break-stream', messages: [user('x')] }, credential: 0, signal: signal() });
    expect((await failure(collect(broken))).kind).toBe('network');

    const refused = await failure(adapter.chatStream({ request: { model: 'fail-429', messages: [user('x')] }, credential: 0, signal: signal() }));
    expect(refused.kind).toBe('rate_limit');
  });

  it('times out a provider that never answers', async () => {
    const impatient = adapterFor(fake, [good], { connectMs: 1_000, firstByteMs: 200, idleMs: 200, totalMs: 2_000 });
    try {
      expect((await failure(impatient.chat({ request: { model: 'stall', messages: [user('x')] }, credential: 0, signal: signal() }))).kind).toBe('timeout');
    } finally {
      await impatient.close();
    }
  });
});

describe('Bedrock event stream decoding', () => {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const frame = (type: string, payload: object) =>
    codec.encode({
      headers: { ':event-type': { type: 'string', value: type }, ':message-type': { type: 'string', value: 'event' } },
      body: fromUtf8(JSON.stringify(payload)),
    });

  async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  }

  it('reassembles frames split anywhere across chunks', async () => {
    const bytes = Buffer.concat([frame('messageStart', { role: 'assistant' }), frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'hé' } })]);
    for (const size of [1, 3, 13, bytes.length]) {
      const messages = [];
      for await (const message of readEventStream(pieces(bytes, size), 'bedrock')) messages.push(message);
      expect(messages.map((m) => m.headers[':event-type']?.value)).toEqual(['messageStart', 'contentBlockDelta']);
      expect(JSON.parse(toUtf8(messages[1]!.body))).toEqual({ contentBlockIndex: 0, delta: { text: 'hé' } });
    }
  });

  it('reports a corrupt frame or one cut short as a ProviderError', async () => {
    const good = frame('messageStart', { role: 'assistant' });
    const corrupt = Uint8Array.from(good);
    corrupt[corrupt.length - 6] = corrupt[corrupt.length - 6]! ^ 0xff;
    const read = async (bytes: Uint8Array) => {
      for await (const _ of readEventStream(pieces(bytes, 5), 'bedrock'));
    };
    expect((await failure(read(corrupt))).kind).toBe('network');
    expect((await failure(read(good.subarray(0, good.length - 3)))).kind).toBe('network');
  });
});

describe('Bedrock provider config', () => {
  it('needs at least one key pair and defaults the endpoint from the region', () => {
    expect(bedrockProviderConfig.safeParse({ type: 'bedrock', region, credentials: [] }).success).toBe(false);
    expect(bedrockProviderConfig.safeParse({ type: 'bedrock', region, credentials: [{ ...good, extra: 1 }] }).success).toBe(false);
    const config = bedrockProviderConfig.parse({ type: 'bedrock', region, credentials: [good] });
    expect(config.baseUrl).toBeUndefined();
    // No cap unless an operator sets one: calls are never queued below what the provider accepts.
    expect(config.maxConnections).toBeUndefined();
  });
});
