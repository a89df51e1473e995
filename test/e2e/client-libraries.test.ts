import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { tool as langchainTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { recordsOfKey } from '../harness/clients.js';
import { startInProcess } from '../harness/gateway.js';

// The Vercel AI SDK and LangChain.js, configured against the gateway as docs/routing.md ("Clients") says, each
// with its own tool loop and streaming: what they print is what the fake provider answered, and every model call
// they made (counted at the fake) leaves exactly one audit row and one usage row.

const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});

describe('client libraries through the gateway', () => {
  let anthropicFake: FakeAnthropic;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant-fake' });
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai-fake' });
    gateway = await startInProcess({
      routing: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant-fake' },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai-fake' },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await anthropicFake?.close();
    await openaiFake?.close();
  });

  /** Runs `use` with a new key; returns its result with the key's records, one per call the fake received meanwhile. */
  async function counted<T>(fake: { requests: unknown[] }, use: (key: string) => Promise<T>) {
    const { id, key } = await gateway.createKey({ name: 'client-library' });
    const before = fake.requests.length;
    const result = await use(key);
    const calls = fake.requests.length - before;
    const records = await recordsOfKey(gateway.adminUrl, id, calls);
    expect(records.audit.map((row) => row.event_type)).toEqual(Array(calls).fill('request.completed'));
    expect(records.usage).toHaveLength(calls);
    return { result, calls, usage: records.usage };
  }

  it('Vercel AI SDK: generateText runs a tool loop over chat completions', async () => {
    const { result, calls, usage } = await counted(openaiFake, (key) =>
      generateText({
        model: createOpenAI({ baseURL: gateway.baseURL, apiKey: key }).chat('openai/gpt-test'),
        prompt: 'weather with {"city":"Lyon"}',
        tools: { weather },
        stopWhen: stepCountIs(3),
      }),
    );
    expect(result.steps[0]!.toolCalls.map((c) => [c.toolName, c.input])).toEqual([['weather', { city: 'Lyon' }]]);
    expect(result.text).toBe('Fake OpenAI reply to: weather with {"city":"Lyon"} (tools said: sunny in Lyon)');
    expect(calls).toBe(2);
    expect(usage.map((row) => row.endpoint)).toEqual(['chat.completions', 'chat.completions']);
  });

  it('Vercel AI SDK: streamText streams a tool loop over the Responses API, its default for OpenAI', async () => {
    const { result, calls, usage } = await counted(openaiFake, async (key) => {
      const stream = streamText({
        model: createOpenAI({ baseURL: gateway.baseURL, apiKey: key })('openai/gpt-test'),
        prompt: 'weather with {"city":"Nice"}',
        tools: { weather },
        stopWhen: stepCountIs(3),
      });
      let text = '';
      for await (const delta of stream.textStream) text += delta;
      return { text, toolResults: (await stream.steps).flatMap((s) => s.toolResults.map((r) => r.output)) };
    });
    expect(result.toolResults).toEqual(['sunny in Nice']);
    expect(result.text).toBe('Fake OpenAI reply to: weather with {"city":"Nice"} (tools said: sunny in Nice)');
    expect(calls).toBe(2);
    expect(usage.map((row) => [row.endpoint, row.stream])).toEqual([
      ['responses', true],
      ['responses', true],
    ]);
  });

  it("Vercel AI SDK: the Anthropic provider streams a tool loop over the gateway's Messages API", async () => {
    const { result, calls, usage } = await counted(anthropicFake, async (key) => {
      const stream = streamText({
        model: createAnthropic({ baseURL: gateway.baseURL, apiKey: key })('anthropic/claude-test'),
        maxOutputTokens: 256,
        prompt: 'weather with {"city":"Brest"}',
        tools: { weather },
        stopWhen: stepCountIs(3),
      });
      let text = '';
      for await (const delta of stream.textStream) text += delta;
      return text;
    });
    expect(result).toContain('Fake Anthropic reply to: sunny in Brest');
    expect(calls).toBe(2);
    expect(usage.map((row) => [row.endpoint, row.stream])).toEqual([
      ['messages', true],
      ['messages', true],
    ]);
  });

  it('LangChain.js ChatOpenAI: invoke, stream, and a bound tool', async () => {
    const { result, calls, usage } = await counted(openaiFake, async (key) => {
      const chat = new ChatOpenAI({ model: 'openai/gpt-test', apiKey: key, configuration: { baseURL: gateway.baseURL }, maxRetries: 0 });
      const invoked = await chat.invoke('Hello from LangChain');
      let streamed = '';
      for await (const chunk of await chat.stream('Stream from LangChain')) streamed += String(chunk.content);
      const lookup = langchainTool(async ({ city }: { city: string }) => `rainy in ${city}`, {
        name: 'lookup',
        description: 'The weather in a city',
        schema: z.object({ city: z.string() }),
      });
      const called = await chat.bindTools([lookup]).invoke('lookup with {"city":"Oslo"}');
      return { invoked: invoked.content, streamed, toolCalls: called.tool_calls };
    });
    expect(result.invoked).toBe('Fake OpenAI reply to: Hello from LangChain');
    expect(result.streamed).toBe('Fake OpenAI reply to: Stream from LangChain');
    expect(result.toolCalls?.map((c) => [c.name, c.args])).toEqual([['lookup', { city: 'Oslo' }]]);
    expect(calls).toBe(3);
    expect(usage.map((row) => row.stream)).toEqual([false, true, false]);
  });
});
