import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../fakes/anthropic.js';
import { startFakeAzure } from '../fakes/azure.js';
import { startFakeBedrock } from '../fakes/bedrock.js';
import { startFakeCohere } from '../fakes/cohere.js';
import { createTestServiceAccount, startFakeGemini } from '../fakes/gemini.js';
import { startFakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';

interface ProviderCase {
  /** Provider name in the gateway's config. */
  name: string;
  /** A model the fake answers normally. */
  model: string;
  /** What the fake's replies start with. */
  reply: string;
}

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

// Each provider's fake behind the gateway, called with the official openai and
// Anthropic SDKs: text, streams, tool calls and errors must all come through.
describe('every provider behind one API', () => {
  const closers: (() => Promise<void>)[] = [];
  const cases: ProviderCase[] = [];
  const providers: Record<string, unknown> = {};
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    const openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    const azure = await startFakeAzure({ apiKey: 'azure-key', deployments: ['gpt-4o', 'fail-500'] });
    const anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    const cohere = await startFakeCohere({ apiKey: 'co-key' });
    const account = createTestServiceAccount();
    const gemini = await startFakeGemini({ apiKey: 'g-key', serviceAccountPublicKey: account.publicKey });
    const bedrock = await startFakeBedrock({ region: 'us-east-1', accessKeyId: 'AKIAFAKEGATEWAY', secretAccessKey: 'fake-secret-access-key' });
    closers.push(...[openaiFake, azure, anthropicFake, cohere, gemini, bedrock].map((fake) => () => fake.close()));

    providers.openai = { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' };
    providers.azure = { type: 'azure', endpoint: azure.url, apiKey: 'azure-key' };
    providers.anthropic = { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' };
    providers.cohere = { type: 'cohere', baseUrl: cohere.url, apiKey: 'co-key' };
    providers.gemini = { type: 'gemini', baseUrl: gemini.url, apiKey: 'g-key' };
    providers.bedrock = {
      type: 'bedrock',
      region: 'us-east-1',
      baseUrl: bedrock.url,
      credentials: [{ accessKeyId: 'AKIAFAKEGATEWAY', secretAccessKey: 'fake-secret-access-key' }],
    };
    providers.vertex = { type: 'vertex', baseUrl: gemini.url, project: 'fake-project', serviceAccount: account.keyJson(gemini.tokenUrl) };
    cases.push(
      { name: 'openai', model: 'gpt-4o-mini', reply: 'Fake OpenAI reply to: ' },
      { name: 'azure', model: 'gpt-4o', reply: 'Fake Azure OpenAI reply to: ' },
      { name: 'anthropic', model: 'claude-sonnet-4-5', reply: 'Fake Anthropic reply to: ' },
      { name: 'cohere', model: 'command-a-03-2025', reply: 'Fake Cohere reply to: ' },
      { name: 'gemini', model: 'gemini-2.5-flash', reply: 'Fake Gemini reply to: ' },
      { name: 'vertex', model: 'gemini-2.5-flash', reply: 'Fake Gemini reply to: ' },
      { name: 'bedrock', model: 'anthropic.claude-3-5-sonnet-20240620-v1:0', reply: 'Fake Bedrock reply to: ' },
    );
    gateway = await startInProcess({ routing: { providers, retry: { baseDelayMs: 5, maxDelayMs: 50 } } });
    const { key } = await gateway.createKey({ name: 'providers' });
    openai = gateway.client(key);
    anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const close of closers) await close();
  });

  const each = (test: (c: ProviderCase) => Promise<void>) => async () => {
    for (const c of cases) {
      try {
        await test(c);
      } catch (err) {
        throw new Error(`provider ${c.name}: ${(err as Error).message}`, { cause: err });
      }
    }
  };

  it(
    'answers chat completions',
    each(async ({ name, model, reply }) => {
      const { data, response } = await openai.chat.completions
        .create({
          model: `${name}/${model}`,
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'hello there' },
          ],
        })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe(`${reply}hello there`);
      expect(data.usage?.total_tokens).toBeGreaterThan(0);
      expect(response.headers.get('x-gateway-provider')).toBe(name);
    }),
  );

  it(
    'streams chat completions, with usage when asked',
    each(async ({ name, model, reply }) => {
      const stream = await openai.chat.completions.create({
        model: `${name}/${model}`,
        messages: [{ role: 'user', content: 'stream this' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe(`${reply}stream this`);
      expect(usage?.completion_tokens).toBeGreaterThan(0);
    }),
  );

  it(
    'returns tool calls, whole and streamed',
    each(async ({ name, model }) => {
      const request = { model: `${name}/${model}`, messages: [{ role: 'user' as const, content: 'What is the weather in Paris?' }], tools: [weather] };
      const whole = await openai.chat.completions.create(request);
      expect(whole.choices[0]?.finish_reason).toBe('tool_calls');
      const call = whole.choices[0]?.message.tool_calls?.[0];
      expect(call?.type === 'function' && { name: call.function.name, args: JSON.parse(call.function.arguments) as unknown }).toEqual({
        name: 'get_weather',
        args: { city: 'Paris' },
      });
      const streamed = await openai.chat.completions.stream(request).finalChatCompletion();
      const streamedCall = streamed.choices[0]?.message.tool_calls?.[0];
      expect(streamedCall?.type === 'function' && JSON.parse(streamedCall.function.arguments)).toEqual({ city: 'Paris' });
    }),
  );

  it(
    'serves the Anthropic Messages API from every provider',
    each(async ({ name, model, reply }) => {
      const message = await anthropic.messages.create({ model: `${name}/${model}`, max_tokens: 200, messages: [{ role: 'user', content: 'from claude sdk' }] });
      expect(message.content[0]).toMatchObject({ type: 'text', text: `${reply}from claude sdk` });
      let text = '';
      const stream = anthropic.messages.stream({ model: `${name}/${model}`, max_tokens: 200, messages: [{ role: 'user', content: 'streamed claude' }] });
      stream.on('text', (delta) => (text += delta));
      await stream.finalMessage();
      expect(text).toBe(`${reply}streamed claude`);
    }),
  );

  it(
    'maps provider failures to clear errors for both SDKs',
    each(async ({ name }) => {
      const failing = await openai.chat.completions.create({ model: `${name}/fail-500`, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(failing).toBeInstanceOf(OpenAI.InternalServerError);
      expect((failing as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
      expect((failing as InstanceType<typeof OpenAI.APIError>).message).toContain(name);
      const viaAnthropic = await anthropic.messages
        .create({ model: `${name}/fail-500`, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect(viaAnthropic).toBeInstanceOf(Anthropic.InternalServerError);
      expect((viaAnthropic as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    }),
  );
});
