import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPATIBLE_PROFILES, type CompatibleType } from '../fakes/compatible.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { FAKE_REASONING_TOKENS } from '../fakes/openai-usage.js';
import { startInProcess } from '../harness/gateway.js';

type Body = OpenAI.ChatCompletionCreateParamsNonStreaming & Record<string, unknown>;
type Received = Record<string, unknown>;

interface Case {
  type: CompatibleType;
  model: string;
  /** A model of the provider that reasons aloud, and whether it counts reasoning tokens. */
  reasoning?: { model: string; tokens: number };
  /** What the provider does differently, sent through the gateway: `expect` sees the answer (or error) and what the provider received. */
  differs: {
    request: Partial<Body>;
    expect(outcome: { answer?: OpenAI.ChatCompletion; error?: InstanceType<typeof OpenAI.APIError>; received?: Received }): void;
  };
}

const refused = (param: string) => (o: { error?: InstanceType<typeof OpenAI.APIError>; received?: Received }) => {
  expect(o.error).toMatchObject({ status: 400, code: 'invalid_request', type: 'invalid_request_error', param });
  expect(o.error?.message).toContain(`cannot take '${param}'`);
  expect(o.received).toBeUndefined();
};
const capped = (label: string) => (o: { answer?: OpenAI.ChatCompletion; received?: Received }) => {
  expect(o.answer?.choices[0]).toMatchObject({ message: { content: `Fake ${label} reply` }, finish_reason: 'length' });
  expect(o.received).toMatchObject({ max_tokens: 3 });
  expect(o.received).not.toHaveProperty('max_completion_tokens');
};

const CASES: Case[] = [
  {
    type: 'mistral',
    model: 'mistral-small-latest',
    differs: {
      request: { seed: 7, max_completion_tokens: 3, user: 'u1', messages: [{ role: 'user', content: 'hello', name: 'ann' }] },
      expect(o) {
        capped('Mistral')(o);
        expect(o.received).toMatchObject({ random_seed: 7 });
        for (const field of ['seed', 'user']) expect(o.received).not.toHaveProperty(field);
      },
    },
  },
  { type: 'groq', model: 'llama-3.3-70b-versatile', differs: { request: { n: 2 }, expect: refused('n') } },
  {
    type: 'deepseek',
    model: 'deepseek-chat',
    reasoning: { model: 'deepseek-reasoner', tokens: FAKE_REASONING_TOKENS },
    differs: {
      request: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } } },
      expect: refused('response_format'),
    },
  },
  {
    type: 'xai',
    model: 'grok-4-fast-non-reasoning',
    reasoning: { model: 'grok-3-mini', tokens: FAKE_REASONING_TOKENS },
    differs: { request: { model: 'grok-4', stop: ['\n\n'] }, expect: refused('stop') },
  },
  {
    type: 'openrouter',
    model: 'openai/gpt-4o-mini',
    reasoning: { model: 'deepseek/deepseek-r1', tokens: 0 },
    differs: {
      request: { provider: { order: ['anthropic'], allow_fallbacks: false } },
      expect(o) {
        expect(o.answer?.choices[0]?.message.content).toBe('Fake OpenRouter reply to: hello');
        expect(o.received).toMatchObject({ provider: { order: ['anthropic'], allow_fallbacks: false } });
      },
    },
  },
  { type: 'together', model: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', differs: { request: { max_completion_tokens: 3 }, expect: capped('Together') } },
  {
    type: 'fireworks',
    model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
    differs: {
      request: { top_k: 40 },
      expect(o) {
        expect(o.answer?.model).toBe('accounts/fireworks/models/llama-v3p1-8b-instruct');
        expect(o.received).toMatchObject({ top_k: 40 });
      },
    },
  },
  { type: 'ollama', model: 'llama3.2', reasoning: { model: 'qwen3:8b', tokens: 0 }, differs: { request: { n: 3 }, expect: refused('n') } },
  {
    type: 'vllm',
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    reasoning: { model: 'Qwen/Qwen3-8B', tokens: 0 },
    differs: {
      request: { guided_choice: ['positive', 'negative'] },
      expect(o) {
        expect(o.answer?.choices[0]?.message.content).toBe('positive');
        expect(o.received).toMatchObject({ guided_choice: ['positive', 'negative'] });
      },
    },
  },
];

const weather = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
/** A system prompt long enough for prompt caching (1,024 tokens and more). */
const LONG = 'The support policy, long and unchanging. '.repeat(30);

// The nine providers that speak OpenAI's API with differences of their own, each behind the gateway with a fake that
// follows its published differences, called with the openai and Anthropic SDKs.
describe('OpenAI-compatible providers behind the gateway', () => {
  const fakes = {} as Record<CompatibleType, FakeOpenAI>;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    const providers: Record<string, unknown> = {};
    for (const { type } of CASES) {
      const profile = COMPATIBLE_PROFILES[type];
      fakes[type] = await startFakeOpenAI({ apiKey: `${type}-key`, profile });
      providers[type] = {
        type,
        baseUrl: `${fakes[type].url}${profile.basePath}`,
        ...(profile.keyRequired ? { apiKey: `${type}-key` } : {}),
        ...(type === 'openrouter' ? { headers: { 'HTTP-Referer': 'https://gateway.example', 'X-Title': 'Gateway tests' } } : {}),
      };
    }
    gateway = await startInProcess({ routing: { providers, retry: { baseDelayMs: 5, maxDelayMs: 50 } } });
    const { key } = await gateway.createKey({ name: 'compatible' });
    openai = gateway.client(key);
    anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all(Object.values(fakes).map((fake) => fake.close()));
  });

  describe.each(CASES)('$type', ({ type, model, reasoning, differs }) => {
    const label = COMPATIBLE_PROFILES[type].label;
    const lastRequest = () => fakes[type].requests.at(-1);

    it('answers a chat', async () => {
      const { data, response } = await openai.chat.completions
        .create({ model: `${type}/${model}`, messages: [{ role: 'user', content: 'hello there' }] })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe(`Fake ${label} reply to: hello there`);
      expect(data.usage?.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
      expect(response.headers.get('x-gateway-provider')).toBe(type);
      const sent = lastRequest();
      expect(sent?.authorization).toBe(COMPATIBLE_PROFILES[type].keyRequired ? `Bearer ${type}-key` : undefined);
      if (type === 'openrouter') expect(sent?.headers).toMatchObject({ 'http-referer': 'https://gateway.example', 'x-title': 'Gateway tests' });
    });

    it('streams a chat, its usage last in a chunk of its own as OpenAI sends it', async () => {
      const stream = await openai.chat.completions.create({
        model: `${type}/${model}`,
        messages: [{ role: 'user', content: 'stream this' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(`Fake ${label} reply to: stream this`);
      const last = chunks.at(-1)!;
      expect(last.choices).toEqual([]);
      expect(last.usage).toMatchObject({ completion_tokens: 6, total_tokens: last.usage!.prompt_tokens + 6 });
      expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
    });

    it('streams a tool call, and takes the result back under the id another provider gave the call', async () => {
      const request = { model: `${type}/${model}`, messages: [{ role: 'user' as const, content: 'What is the weather in Paris?' }], tools: [weather] };
      const streamed = await openai.chat.completions.stream(request).finalChatCompletion();
      const call = streamed.choices[0]?.message.tool_calls?.[0];
      expect(streamed.choices[0]?.finish_reason).toBe('tool_calls');
      expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });
      const id = 'call_Zx81QmT4v0bLr5Yd2GcN';
      const next = await openai.chat.completions.create({
        ...request,
        messages: [
          ...request.messages,
          { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
          { role: 'tool', tool_call_id: id, content: '18°C and sunny' },
        ],
      });
      expect(next.choices[0]?.message.content).toBe(`Fake ${label} reply to: What is the weather in Paris? (tools said: 18°C and sunny)`);
    });

    it('handles what it does differently from OpenAI as designed', async () => {
      const before = fakes[type].requests.length;
      const body = { model: `${type}/${model}`, messages: [{ role: 'user', content: 'hello' }], ...differs.request } as Body;
      if (differs.request.model) body.model = `${type}/${differs.request.model}`;
      const outcome = await openai.chat.completions.create(body).then(
        (answer) => ({ answer }),
        (error: InstanceType<typeof OpenAI.APIError>) => ({ error }),
      );
      differs.expect({ ...outcome, received: fakes[type].requests.length > before ? lastRequest()?.body : undefined });
    });

    it("maps the provider's error body to each client's error shape", async () => {
      const failed = await openai.chat.completions.create({ model: `${type}/fail-400`, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(OpenAI.BadRequestError);
      expect((failed as Error).message).toContain(`Provider ${type} rejected the request (HTTP 400): Invalid value for 'temperature'`);
      const viaAnthropic = await anthropic.messages
        .create({ model: `${type}/fail-400`, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect(viaAnthropic).toBeInstanceOf(Anthropic.BadRequestError);
      expect((viaAnthropic as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    });

    // Only providers that have reasoning models get this test.
    if (reasoning)
      it('keeps reasoning as reasoning_content, and counts reasoning tokens inside the completion', async () => {
        const { model: thinker, tokens } = reasoning!;
        const messages = [{ role: 'user' as const, content: 'think' }];
        const whole = await openai.chat.completions.create({ model: `${type}/${thinker}`, messages });
        expect(whole.choices[0]?.message).toMatchObject({ content: `Fake ${label} reply to: think`, reasoning_content: 'Thinking it over first.' });
        expect(whole.usage?.completion_tokens).toBe(5 + tokens);
        expect(whole.usage?.total_tokens).toBe(whole.usage!.prompt_tokens + 5 + tokens);
        let thought = '';
        const stream = await openai.chat.completions.create({ model: `${type}/${thinker}`, messages, stream: true });
        for await (const chunk of stream) thought += (chunk.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
        expect(thought).toBe('Thinking it over first.');
        // The Messages API's place for it: a thinking block before the text, whole and streamed.
        const message = await anthropic.messages.create({ model: `${type}/${thinker}`, max_tokens: 200, messages });
        expect(message.content.map((block) => block.type)).toEqual(['thinking', 'text']);
        expect(message.content[0]).toMatchObject({ thinking: 'Thinking it over first.' });
        let streamed = '';
        const messageStream = anthropic.messages.stream({ model: `${type}/${thinker}`, max_tokens: 200, messages });
        messageStream.on('thinking', (delta) => (streamed += delta));
        expect((await messageStream.finalMessage()).content.map((block) => block.type)).toEqual(['thinking', 'text']);
        expect(streamed).toBe('Thinking it over first.');
      });
  });

  it("counts DeepSeek's cache hits as cached tokens, for both clients", async () => {
    const ask = () =>
      openai.chat.completions.create({
        model: 'deepseek/deepseek-chat',
        messages: [
          { role: 'system', content: LONG },
          { role: 'user', content: 'hi' },
        ],
      });
    await ask();
    const hit = await ask();
    expect(hit.usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThanOrEqual(1_024);
    const message = await anthropic.messages.create({
      model: 'deepseek/deepseek-chat',
      max_tokens: 50,
      system: LONG,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(message.usage.cache_read_input_tokens).toBeGreaterThanOrEqual(1_024);
  });
});
