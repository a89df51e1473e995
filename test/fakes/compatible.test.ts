import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPATIBLE_PROFILES, type CompatibleType } from './compatible.js';
import { startFakeOpenAI, type FakeOpenAI } from './openai.js';

type Create = OpenAI.ChatCompletionCreateParamsNonStreaming & Record<string, unknown>;

/** A request each provider refuses, per its docs, and the status it answers it with. */
const REFUSED: Record<CompatibleType, { request: Partial<Create>; status: number } | undefined> = {
  mistral: { request: { seed: 7 }, status: 422 },
  groq: { request: { n: 2 }, status: 400 },
  deepseek: { request: { response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, status: 400 },
  xai: { request: { model: 'grok-4', stop: ['\n'] }, status: 400 },
  openrouter: undefined,
  together: undefined,
  fireworks: undefined,
  ollama: undefined,
  vllm: undefined,
};

const weather = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

// Each profile must be something the openai SDK (the client each of these providers documents) can call and parse.
describe.each(Object.entries(COMPATIBLE_PROFILES) as [CompatibleType, (typeof COMPATIBLE_PROFILES)[CompatibleType]][])(
  'fake %s, checked with the openai SDK',
  (type, profile) => {
    let fake: FakeOpenAI;
    let client: OpenAI;

    beforeAll(async () => {
      fake = await startFakeOpenAI({ apiKey: 'provider-key', profile });
      client = new OpenAI({ baseURL: `${fake.url}${profile.basePath}`, apiKey: profile.keyRequired ? 'provider-key' : 'unused', maxRetries: 0 });
    });
    afterAll(() => fake.close());

    it('answers a chat completion and a stream the SDK parses, with usage where the provider puts it', async () => {
      const whole = await client.chat.completions.create({ model: 'some-model', messages: [{ role: 'user', content: 'ping' }] });
      expect(whole.choices[0]?.message.content).toBe(`Fake ${profile.label} reply to: ping`);
      const stream = await client.chat.completions.create({
        model: 'some-model',
        messages: [{ role: 'user', content: 'stream please' }],
        stream: true,
        ...(type === 'mistral' ? {} : { stream_options: { include_usage: true } }),
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        usage ??= chunk.usage ?? (chunk as { x_groq?: { usage?: OpenAI.CompletionUsage } }).x_groq?.usage;
      }
      expect(text).toBe(`Fake ${profile.label} reply to: stream please`);
      expect(usage?.completion_tokens).toBe(6);
    });

    it('streams a tool call the SDK assembles', async () => {
      const runner = client.chat.completions.stream({ model: 'some-model', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weather] });
      const call = (await runner.finalChatCompletion()).choices[0]?.message.tool_calls?.[0];
      expect(call?.type === 'function' && call.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
      if (type === 'mistral') expect(call?.id).toMatch(/^[A-Za-z0-9]{9}$/);
    });

    it('fails in its own error body, which the SDK maps to its error classes', async () => {
      const failed = await client.chat.completions.create({ model: 'fail-400', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(OpenAI.BadRequestError);
      const refused = REFUSED[type];
      if (!refused) return;
      const error = await client.chat.completions
        .create({ model: 'some-model', messages: [{ role: 'user', content: 'x' }], ...refused.request } as Create)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(refused.status);
    });

    it.runIf(type === 'vllm')("reranks in Jina's shape at /v1/rerank, as vLLM serves it", async () => {
      const ranked = await client.post<{ results: { index: number; relevance_score: number; document: { text: string } }[]; usage: object }>('/rerank', {
        body: { model: 'BAAI/bge-reranker-base', query: 'capital of France', documents: ['Berlin is big', 'Paris is the capital of France'], top_n: 1 },
      });
      expect(ranked.results).toEqual([{ index: 1, relevance_score: 1, document: { text: 'Paris is the capital of France' } }]);
      expect(ranked.usage).toMatchObject({ total_tokens: 9 });
    });
  },
);
