import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, THINKING_TOKENS, type FakeAnthropic } from '../../../test/fakes/anthropic.js';
import { call, collect, failure, TEST_TIMEOUTS as timeouts } from '../../../test/harness/adapters.js';
import { ChatAssembler } from '../answers.js';
import type { ChatChunk, ChatMessage, ChatRequest, ChatResponse, FunctionTool } from '../canonical.js';
import { anthropicProviderConfig, createAnthropicAdapter } from './anthropic.js';
import { requestFor } from './compatible.js';
import type { ProviderAdapter } from './types.js';

// Extended thinking through the anthropic adapter, against the fake that signs its thinking blocks and, as the real
// API, refuses a tool-use continuation whose assistant turn lost them.

const KEY = 'sk-ant-thinking';
const weatherTool: FunctionTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};
const THINKING = { type: 'enabled' as const, budget_tokens: 2048 };
const ask = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'claude-sonnet-4-5',
  messages: [{ role: 'user', content: 'weather in Paris?' }],
  tools: [weatherTool],
  thinking: THINKING,
  ...extra,
});

/** The conversation after the tool call: the assistant turn as `assistant` holds it, then the tool result. */
function continuation(assistant: ChatMessage): ChatRequest {
  return ask({
    messages: [
      ...ask().messages,
      assistant,
      { role: 'tool', tool_call_id: (assistant as { tool_calls: { id: string }[] }).tool_calls[0]!.id, content: 'Sunny' },
    ],
  });
}

describe('anthropic adapter: signed thinking both ways', () => {
  let fake: FakeAnthropic;
  let adapter: ProviderAdapter;

  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: KEY });
    const config = anthropicProviderConfig.parse({
      type: 'anthropic',
      baseUrl: fake.url,
      apiKey: KEY,
      headers: { 'anthropic-beta': 'extended-cache-ttl-2025-04-11' },
    });
    adapter = createAnthropicAdapter('claude', config, timeouts);
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('sends thinking, output_config and context_management, and only the allowed beta flags next to the configured one', async () => {
    const context = { edits: [{ type: 'clear_tool_uses_20250919' }] };
    await adapter.chat(
      call(
        ask({
          output_config: { effort: 'high' },
          response_format: { type: 'json_schema', json_schema: { name: 'o', schema: { type: 'object' } } },
          context_management: context,
          anthropic_beta: ['claude-code-20250219', 'interleaved-thinking-2025-05-14', 'context-1m-2025-08-07', 'context-management-2025-06-27'],
        }),
      ),
    );
    const sent = fake.requests.at(-1)!;
    expect(sent.body).toMatchObject({ thinking: THINKING, context_management: context, output_config: { effort: 'high', format: { type: 'json_schema' } } });
    expect(sent.body).not.toHaveProperty('anthropic_beta');
    expect(sent.beta).toBe('extended-cache-ttl-2025-04-11,interleaved-thinking-2025-05-14,context-management-2025-06-27');
  });

  it('answers the signed thinking as reasoning_content and thinking_blocks, which carried back make the tool continuation pass', async () => {
    const first = await adapter.chat(call(ask()));
    const message = first.choices[0]!.message;
    expect(message.thinking_blocks).toEqual([{ type: 'thinking', thinking: expect.stringMatching(/short answer/), signature: expect.any(String) }]);
    expect(message.reasoning_content).toBe((message.thinking_blocks![0] as { thinking: string }).thinking);
    expect(first.usage?.completion_tokens_details?.reasoning_tokens).toBe(THINKING_TOKENS);

    const next = await adapter.chat(
      call(continuation({ role: 'assistant', content: message.content, tool_calls: message.tool_calls, thinking_blocks: message.thinking_blocks })),
    );
    expect(next.choices[0]!.message.content).toContain('Sunny');
    const assistantTurn = (fake.requests.at(-1)!.body.messages as { content: { type: string }[] }[])[1]!;
    expect(assistantTurn.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use']);
    expect(assistantTurn.content[0]).toEqual(message.thinking_blocks![0]);
  });

  it('fails as the client’s bad request when the assistant turn lost its thinking block, or changed it', async () => {
    const { message } = (await adapter.chat(call(ask()))).choices[0]!;
    const lost = await failure(adapter.chat(call(continuation({ role: 'assistant', content: message.content, tool_calls: message.tool_calls }))));
    expect(lost).toMatchObject({ kind: 'bad_request', status: 400 });
    expect(lost.message).toMatch(/Expected `thinking` or `redacted_thinking`, but found `text`/);

    const [block] = message.thinking_blocks as { type: 'thinking'; thinking: string; signature: string }[];
    const edited = {
      role: 'assistant' as const,
      content: message.content,
      tool_calls: message.tool_calls,
      thinking_blocks: [{ ...block!, thinking: 'edited' }],
    };
    expect((await failure(adapter.chat(call(continuation(edited))))).message).toMatch(/Invalid `signature` in `thinking` block/);
  });

  it('streams thinking as reasoning_content, ends each block with its signature, and passes redacted blocks whole', async () => {
    const chunks = (await collect(await adapter.chatStream(call(ask({ model: 'redacted-model' }))))) as ChatChunk[];
    const deltas = chunks.flatMap((c) => c.choices.map((choice) => choice.delta));
    const thinking = deltas.filter((d) => d.reasoning_content || d.thinking_blocks);
    expect(thinking.map((d) => (d.reasoning_content ? 'text' : d.thinking_blocks![0]!.type))).toEqual(['redacted_thinking', 'text', 'text', 'thinking']);

    const assembler = new ChatAssembler();
    chunks.forEach((c) => assembler.add(c));
    const whole = assembler.response() as ChatResponse;
    const { message } = whole.choices[0]!;
    expect(message.thinking_blocks!.map((b) => b.type)).toEqual(['redacted_thinking', 'thinking']);
    expect(message.reasoning_content).toMatch(/short answer/);
    // The assembled blocks are exactly what the API signed: the continuation with them passes.
    const next = await adapter.chat(
      call(continuation({ role: 'assistant', content: message.content, tool_calls: message.tool_calls, thinking_blocks: message.thinking_blocks })),
    );
    expect(next.choices[0]!.finish_reason).toBe('stop');
  });

  it('sends OpenAI-shaped providers reasoning_effort for Anthropic effort, and none of the Anthropic-only fields', () => {
    const request = ask({
      output_config: { effort: 'max' },
      context_management: {},
      anthropic_beta: ['interleaved-thinking-2025-05-14'],
      messages: [{ role: 'assistant', content: 'x', thinking_blocks: [{ type: 'redacted_thinking', data: 'd' }] }],
    });
    const wire = requestFor('openai', 'openai', request);
    expect(wire).toMatchObject({ reasoning_effort: 'high' });
    for (const field of ['thinking', 'output_config', 'context_management', 'anthropic_beta']) expect(wire).not.toHaveProperty(field);
    expect(wire.messages[0]).toEqual({ role: 'assistant', content: 'x' });
    expect(requestFor('openai', 'openai', { ...request, reasoning_effort: 'low' }).reasoning_effort).toBe('low');
  });
});
