import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../kit/errors.js';
import type { ChatChunk, ChatResponse } from '../canonical.js';
import { messagesFormat } from './messages.js';

// The Messages API's extended thinking on top of chat: settings and signed blocks in, signed blocks out.

const base = { model: 'claude-test', max_tokens: 4000, messages: [{ role: 'user', content: 'x' }] };
const chunkBase = { id: 'msg_1', object: 'chat.completion.chunk' as const, created: 1, model: 'claude-test' };
const chunk = (delta: ChatChunk['choices'][number]['delta'], finish: ChatChunk['choices'][number]['finish_reason'] = null): ChatChunk => ({
  ...chunkBase,
  choices: [{ index: 0, delta, finish_reason: finish }],
});

function refusal(body: unknown): GatewayError {
  try {
    messagesFormat.parse(body);
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('parse accepted an invalid body');
}

describe('messages format: thinking', () => {
  it('carries thinking, output_config (its format as response_format) and context_management, and checks them', () => {
    const { chat } = messagesFormat.parse({
      ...base,
      thinking: { type: 'adaptive' },
      output_config: { effort: 'medium', format: { type: 'json_schema', schema: { type: 'object' } } },
      context_management: { edits: [] },
    });
    expect(chat).toMatchObject({ thinking: { type: 'adaptive' }, output_config: { effort: 'medium' }, context_management: { edits: [] } });
    expect(chat.output_config).not.toHaveProperty('format');
    expect(chat.response_format).toMatchObject({ type: 'json_schema' });

    expect(refusal({ ...base, thinking: { type: 'enabled' } })).toMatchObject({ param: 'thinking.budget_tokens' });
    expect(refusal({ ...base, thinking: { type: 'sometimes' } })).toMatchObject({ param: 'thinking.type' });
    expect(refusal({ ...base, context_management: 'on' })).toMatchObject({ param: 'context_management' });
    const userThinking = { ...base, messages: [{ role: 'user', content: [{ type: 'thinking', thinking: 't', signature: 's' }] }] };
    expect(refusal(userThinking)).toMatchObject({ param: 'messages.0.content.0' });
    const unsigned = { ...base, messages: [{ role: 'assistant', content: [{ type: 'thinking', thinking: 't' }] }] };
    expect(refusal(unsigned).message).toMatch(/thinking and signature/);
  });

  it('keeps an assistant turn’s thinking and redacted_thinking blocks, in order, as thinking_blocks', () => {
    const blocks = [
      { type: 'redacted_thinking', data: 'opaque' },
      { type: 'thinking', thinking: 'plan', signature: 'sig' },
    ];
    const { chat } = messagesFormat.parse({
      ...base,
      messages: [...base.messages, { role: 'assistant', content: [...blocks, { type: 'tool_use', id: 't1', name: 'f', input: {} }] }],
    });
    expect(chat.messages[1]).toMatchObject({ role: 'assistant', content: null, thinking_blocks: blocks });
  });

  it('answers signed blocks as they came, before the text', () => {
    const result: ChatResponse = {
      id: 'msg_1',
      object: 'chat.completion',
      created: 1,
      model: 'claude-test',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Hi',
            reasoning_content: 'plan',
            thinking_blocks: [
              { type: 'thinking', thinking: 'plan', signature: 'sig' },
              { type: 'redacted_thinking', data: 'opaque' },
            ],
          },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
    };
    const message = messagesFormat.parse(base).response(result) as { content: unknown[] };
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'plan', signature: 'sig' },
      { type: 'redacted_thinking', data: 'opaque' },
      { type: 'text', text: 'Hi' },
    ]);
  });

  it('streams each thinking block closed by its signature, and redacted blocks whole', async () => {
    const chunks = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'pl' }),
      chunk({ reasoning_content: 'an' }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 's1' }] }),
      chunk({ reasoning_content: 'more' }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 's2' }] }),
      chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: 'opaque' }] }),
      chunk({ content: 'Hi' }),
      chunk({}, 'stop'),
    ];
    async function* from() {
      yield* chunks;
    }
    const events = [];
    for await (const e of messagesFormat.parse(base).stream(from())) events.push(JSON.parse(e.data) as Record<string, unknown>);
    const blocks = events.filter((e) => String(e.type).startsWith('content_block')).map((e) => [e.type, e.index, e.content_block ?? e.delta ?? null]);
    expect(blocks).toEqual([
      ['content_block_start', 0, { type: 'thinking', thinking: '', signature: '' }],
      ['content_block_delta', 0, { type: 'thinking_delta', thinking: 'pl' }],
      ['content_block_delta', 0, { type: 'thinking_delta', thinking: 'an' }],
      ['content_block_delta', 0, { type: 'signature_delta', signature: 's1' }],
      ['content_block_stop', 0, null],
      ['content_block_start', 1, { type: 'thinking', thinking: '', signature: '' }],
      ['content_block_delta', 1, { type: 'thinking_delta', thinking: 'more' }],
      ['content_block_delta', 1, { type: 'signature_delta', signature: 's2' }],
      ['content_block_stop', 1, null],
      ['content_block_start', 2, { type: 'redacted_thinking', data: 'opaque' }],
      ['content_block_stop', 2, null],
      ['content_block_start', 3, { type: 'text', text: '' }],
      ['content_block_delta', 3, { type: 'text_delta', text: 'Hi' }],
      ['content_block_stop', 3, null],
    ]);
  });
});
