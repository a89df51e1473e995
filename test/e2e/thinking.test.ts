import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, THINKING_TOKENS, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { recordsOfKey } from '../harness/clients.js';
import { startInProcess } from '../harness/gateway.js';

// Extended thinking through the gateway with the official SDKs (docs/routing.md#thinking): the signed thinking
// block an Anthropic model answers reaches the client, whole and streamed, and carried back in the tool round trip
// it passes the provider's check, which (as Anthropic's API) refuses the continuation without it.

const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
const thinking = { type: 'enabled' as const, budget_tokens: 2048 };
const question: Anthropic.MessageParam = { role: 'user', content: 'weather in Paris?' };

/** The second turn of the tool loop: the assistant's content as it came, then the tool's result. */
function roundTrip(answer: Anthropic.Message): Anthropic.MessageCreateParamsNonStreaming {
  const call = answer.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
  return {
    model: 'anthropic/claude-sonnet-4-5',
    max_tokens: 4096,
    thinking,
    tools,
    messages: [
      question,
      { role: 'assistant', content: answer.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sunny' }] },
    ],
  };
}

describe('extended thinking through the gateway', () => {
  let anthropicFake: FakeAnthropic;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let anthropic: Anthropic;
  let openai: OpenAI;
  let keyId: string;

  beforeAll(async () => {
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    gateway = await startInProcess({
      routing: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
        },
      },
    });
    const { id, key } = await gateway.createKey({ name: 'thinking' });
    keyId = id;
    anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
    openai = gateway.client(key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await anthropicFake?.close();
    await openaiFake?.close();
  });

  it('answers the signed thinking block, which carried back completes the tool round trip; the allowed beta flags reach the provider', async () => {
    const betas = { headers: { 'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14' } };
    const answer = await anthropic.messages.create({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 4096, thinking, tools, messages: [question] }, betas);
    expect(answer.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use']);
    expect(answer.content[0]).toMatchObject({ type: 'thinking', thinking: expect.stringMatching(/short answer/), signature: expect.stringMatching(/.{20}/) });
    expect(anthropicFake.requests.at(-1)).toMatchObject({ body: { thinking }, beta: 'interleaved-thinking-2025-05-14' });

    const final = await anthropic.messages.create(roundTrip(answer), betas);
    expect(final.content.at(-1)).toMatchObject({ type: 'text', text: expect.stringContaining('Sunny') });
    expect(final.usage.output_tokens).toBeGreaterThan(THINKING_TOKENS);
  });

  it('streams the thinking and its signature_delta, and the streamed block completes the round trip too', async () => {
    const stream = anthropic.messages.stream({ model: 'anthropic/redacted', max_tokens: 4096, thinking, tools, messages: [question] });
    const signatures: string[] = [];
    stream.on('signature', (signature) => signatures.push(signature));
    const answer = await stream.finalMessage();
    expect(answer.content.map((b) => b.type)).toEqual(['redacted_thinking', 'thinking', 'text', 'tool_use']);
    expect(signatures).toEqual([(answer.content[1] as Anthropic.ThinkingBlock).signature]);

    const final = await anthropic.messages.stream({ ...roundTrip(answer), model: 'anthropic/redacted' }).finalMessage();
    expect(final.stop_reason).toBe('end_turn');
  });

  it('passes on the provider’s refusal of a round trip that dropped the thinking block, as the SDK’s 400', async () => {
    const answer = await anthropic.messages.create({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 4096, thinking, tools, messages: [question] });
    const dropped = { ...answer, content: answer.content.filter((b) => b.type !== 'thinking') };
    const err = await anthropic.messages.create(roundTrip(dropped)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as Error).message).toMatch(/Expected `thinking` or `redacted_thinking`/);
  });

  it('gives OpenAI-shaped clients reasoning_content and thinking_blocks, which sent back complete the round trip', async () => {
    const body = {
      model: 'anthropic/claude-sonnet-4-5',
      messages: [{ role: 'user' as const, content: 'weather in Paris?' }],
      tools: [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      thinking,
    };
    const first = await openai.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const message = first.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string; thinking_blocks?: unknown[] };
    expect(message.thinking_blocks).toEqual([{ type: 'thinking', thinking: message.reasoning_content, signature: expect.any(String) }]);
    const next = await openai.chat.completions.create({
      ...body,
      messages: [...body.messages, message, { role: 'tool', tool_call_id: message.tool_calls![0]!.id, content: 'Sunny' }],
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(next.choices[0]!.message.content).toContain('Sunny');
    expect(next.usage?.completion_tokens_details?.reasoning_tokens).toBe(THINKING_TOKENS);
  });

  it('sends an OpenAI model the effort as reasoning_effort and none of the Anthropic-only settings, and meters thinking once per call', async () => {
    await anthropic.messages.create({
      model: 'openai/o4-mini',
      max_tokens: 4096,
      thinking,
      output_config: { effort: 'low' },
      messages: [question],
    } as Anthropic.MessageCreateParamsNonStreaming);
    const sent = openaiFake.requests.at(-1)!.body;
    expect(sent.reasoning_effort).toBe('low');
    for (const field of ['thinking', 'output_config', 'context_management']) expect(sent).not.toHaveProperty(field);

    // Seven answered Anthropic calls, the refused round trip, the OpenAI call: one row each.
    const { usage } = await recordsOfKey(gateway.adminUrl, keyId, 9);
    expect(usage).toHaveLength(9);
    const thought = usage.filter((row) => row.provider === 'anthropic' && row.outcome === 'completed');
    expect(thought.map((row) => row.reasoning_tokens)).toEqual(Array(7).fill(THINKING_TOKENS));
  });
});
