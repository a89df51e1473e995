import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBedrock, type FakeBedrock } from '../../../test/fakes/bedrock.js';
import { call, collect, failure, TEST_TIMEOUTS as timeouts } from '../../../test/harness/adapters.js';
import { ChatAssembler } from '../answers.js';
import type { ChatChunk, ChatMessage, ChatRequest, ChatResponse } from '../canonical.js';
import { type BedrockAdapter, bedrockProviderConfig, createBedrockAdapter } from './bedrock.js';

// An Anthropic model's extended thinking through Bedrock's Converse API (additionalModelRequestFields.thinking,
// reasoningContent blocks), against the fake that signs its reasoning and refuses a tool continuation that lost it.

const region = 'us-east-1';
const credentials = { accessKeyId: 'AKIAFAKETHINKING0001', secretAccessKey: 'thinking/secret' };
const CLAUDE = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
const thinking = { type: 'enabled' as const, budget_tokens: 2048 };
const ask = (model = CLAUDE): ChatRequest => ({
  model,
  messages: [{ role: 'user', content: 'weather in Paris?' }],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  thinking,
  anthropic_beta: ['interleaved-thinking-2025-05-14', 'context-management-2025-06-27'],
});
const carried = ({ message }: ChatResponse['choices'][number], withThinking = true): ChatMessage => ({
  role: 'assistant',
  content: message.content,
  tool_calls: message.tool_calls,
  ...(withThinking ? { thinking_blocks: message.thinking_blocks } : {}),
});
const continuation = (request: ChatRequest, assistant: ChatMessage): ChatRequest => ({
  ...request,
  messages: [
    ...request.messages,
    assistant,
    { role: 'tool', tool_call_id: (assistant as { tool_calls: { id: string }[] }).tool_calls[0]!.id, content: 'Sunny' },
  ],
});

describe('Bedrock adapter: an Anthropic model’s signed thinking both ways', () => {
  let fake: FakeBedrock;
  let adapter: BedrockAdapter;

  beforeAll(async () => {
    fake = await startFakeBedrock({ region, ...credentials });
    adapter = createBedrockAdapter(
      'bedrock',
      bedrockProviderConfig.parse({ type: 'bedrock', region, baseUrl: fake.url, credentials: [credentials] }),
      timeouts,
    );
  });
  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('sends thinking and the interleaved-thinking flag, answers the signed reasoning, and carries it back', async () => {
    const first = await adapter.chat(call(ask()));
    expect(fake.requests.at(-1)!.body.additionalModelRequestFields).toEqual({ thinking, anthropic_beta: ['interleaved-thinking-2025-05-14'] });
    const choice = first.choices[0]!;
    expect(choice.message.thinking_blocks).toEqual([{ type: 'thinking', thinking: choice.message.reasoning_content, signature: expect.any(String) }]);

    const next = await adapter.chat(call(continuation(ask(), carried(choice))));
    expect(next.choices[0]!.message.content).toContain('Sunny');
    expect(fake.requests.at(-1)!.body.messages![1]!.content[0]).toEqual({
      reasoningContent: {
        reasoningText: { text: choice.message.reasoning_content, signature: (choice.message.thinking_blocks![0] as { signature: string }).signature },
      },
    });

    const lost = await failure(adapter.chat(call(continuation(ask(), carried(choice, false)))));
    expect(lost).toMatchObject({ kind: 'bad_request' });
    expect(lost.message).toMatch(/Expected `thinking` or `redacted_thinking`/);
  });

  it('streams reasoning as reasoning_content with each signature and redacted block, assembled into blocks that pass', async () => {
    const request = ask(`${CLAUDE}-redacted`);
    const chunks = (await collect(await adapter.chatStream(call(request)))) as ChatChunk[];
    const assembler = new ChatAssembler();
    chunks.forEach((c) => assembler.add(c));
    const choice = assembler.response()!.choices[0]!;
    expect(choice.message.thinking_blocks!.map((b) => b.type)).toEqual(['redacted_thinking', 'thinking']);
    const next = await adapter.chat(call(continuation(request, carried(choice))));
    expect(next.choices[0]!.finish_reason).toBe('stop');
  });

  it('sends a model that is not Anthropic’s none of it', async () => {
    await adapter.chat(call({ ...ask('amazon.nova-pro-v1:0'), tools: undefined }));
    expect(fake.requests.at(-1)!.body).not.toHaveProperty('additionalModelRequestFields');
  });
});
