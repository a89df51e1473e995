import { describe, expect, it } from 'vitest';
import { ChatAssembler, chatFromNative, decodeAnswer, encodeAnswer, replayChunks } from './answers.js';
import type { ChatChunk, ChatResponse } from './canonical.js';

const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 1_700_000_000, model: 'gpt-4o-mini' };

const answer: ChatResponse = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'The capital of France is Paris.' }, finish_reason: 'stop', logprobs: null },
    {
      index: 1,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"city":"Paris"}' } }],
      },
      finish_reason: 'tool_calls',
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
  system_fingerprint: 'fp_1',
};

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const all: ChatChunk[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

describe('canonical answers', () => {
  it('assembles a stream (text pieces, tool call fragments, usage) into the completion it adds up to', () => {
    const assembler = new ChatAssembler();
    const chunks: ChatChunk[] = [
      { ...base, system_fingerprint: 'fp_1', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      {
        ...base,
        choices: [
          { index: 0, delta: { content: 'The capital ' }, finish_reason: null },
          {
            index: 1,
            delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '' } }] },
            finish_reason: null,
          },
        ],
      },
      { ...base, choices: [{ index: 1, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: 'of France is Paris.' }, finish_reason: 'stop' }] },
      { ...base, choices: [{ index: 1, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: 'tool_calls' }] },
      { ...base, choices: [], usage: answer.usage },
    ];
    for (const chunk of chunks) assembler.add(chunk);
    expect(assembler.response()).toEqual(answer);
  });

  it('has no answer for a stream that did not finish', () => {
    const assembler = new ChatAssembler();
    assembler.add({ ...base, choices: [{ index: 0, delta: { content: 'half' }, finish_reason: null }] });
    expect(assembler.response()).toBeUndefined();
  });

  it('replays a stored completion as a stream that assembles back into it', async () => {
    const chunks = await collect(replayChunks(answer));
    expect(chunks.filter((c) => c.choices[0]?.index === 0 && c.choices[0].delta.content).length).toBeGreaterThan(3);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: answer.usage });
    const assembler = new ChatAssembler();
    for (const chunk of chunks) assembler.add(chunk);
    expect(assembler.response()).toEqual(answer);
  });

  it('converts a legacy completion, and round-trips through its encoding', () => {
    const chat = chatFromNative({
      id: 'cmpl-1',
      object: 'text_completion',
      created: 5,
      model: 'gpt-3.5-turbo-instruct',
      choices: [{ index: 0, text: ' Paris', finish_reason: 'length', logprobs: null }],
      usage: answer.usage,
    });
    expect(chat.choices).toEqual([{ index: 0, message: { role: 'assistant', content: ' Paris' }, finish_reason: 'length', logprobs: null }]);
    expect(decodeAnswer(encodeAnswer({ chat }))).toEqual({ chat });
    expect(() => decodeAnswer(Buffer.from('{"other":1}'))).toThrow(/neither/);
  });
});
