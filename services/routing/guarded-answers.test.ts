import { describe, expect, it } from 'vitest';
import { GatewayError } from '../kit/errors.js';
import { Guardrails, guardrailsConfigSchema } from '../kit/guardrails/index.js';
import { ChatAssembler } from './answers.js';
import type { ChatChunk, ChunkChoice } from './canonical.js';
import { guardChunks, rewriteAnswer } from './guarded-answers.js';

const run = (action: 'redact' | 'block') =>
  new Guardrails(
    guardrailsConfigSchema.parse({
      policies: { p: { rules: [{ name: 'emails', detectors: ['email'], direction: 'answer', action }] } },
      attach: { global: ['p'] },
    }),
  ).begin({ keyId: 'k', teamId: '', customerId: '' })!;

const chunk = (delta: ChunkChoice['delta'], finish: ChunkChoice['finish_reason'] = null): ChatChunk => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

async function* of(chunks: ChatChunk[]) {
  yield* chunks;
}

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

// Text, then two tool calls, each value split across deltas.
const STREAM = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'write to bob@exa' }),
  chunk({ content: 'mple.com now' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'send', arguments: '{"to":"al' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: 'ice@example.org"}' } }] }),
  chunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'log', arguments: '{}' } }] }),
  chunk({}, 'tool_calls'),
];

describe('answers under guardrail rules', () => {
  it('redacts values split across chunks, and sends each text whole before the next begins', async () => {
    const out = await collect(guardChunks(run('redact'), of(STREAM)));
    const assembler = new ChatAssembler();
    for (const c of out) assembler.add(c);
    const message = assembler.response()!.choices[0]!.message;
    expect(message.content).toBe('write to [EMAIL_1] now');
    expect(message.tool_calls!.map((call) => call.function)).toEqual([
      { name: 'send', arguments: '{"to":"[EMAIL_2]"}' },
      { name: 'log', arguments: '{}' },
    ]);
    // What each chunk carries, in order: all the text, then the first call's arguments, then the second call.
    const order = out.flatMap(({ choices: [c] }) => [
      ...(c!.delta.content ? ['text'] : []),
      ...(c!.delta.tool_calls ?? []).filter((call) => call.function?.arguments).map((call) => `call ${call.index}`),
    ]);
    expect(order.join(',')).toMatch(/^(text,)+(call 0,)+call 1$/);
  });

  it('ends the stream with the rule’s error before the value is sent', async () => {
    const sent: string[] = [];
    const error = await (async () => {
      for await (const c of guardChunks(run('block'), of(STREAM))) sent.push(c.choices[0]?.delta.content ?? '');
    })().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).message).toBe('The answer was blocked by guardrail rule "emails" (policy "p"): choices[0].delta.content holds email.');
    expect(sent.join('')).not.toContain('bob@');
  });

  it('rewrites whole answers by path, and leaves choices nothing changed in as they were', () => {
    const response = {
      id: 'r',
      object: 'chat.completion' as const,
      created: 1,
      model: 'm',
      choices: [
        {
          index: 0,
          message: { role: 'assistant' as const, content: 'a', tool_calls: [{ id: 't', type: 'function' as const, function: { name: 'f', arguments: '{}' } }] },
          finish_reason: 'stop' as const,
          logprobs: null,
        },
        { index: 1, message: { role: 'assistant' as const, content: 'b' }, finish_reason: 'stop' as const, logprobs: null },
      ],
    };
    const paths: string[] = [];
    const rewritten = rewriteAnswer(response, (path, text) => {
      paths.push(path);
      return path === 'choices[0].message.tool_calls[0].function.arguments' ? '{"x":1}' : text;
    });
    expect(paths).toEqual(['choices[0].message.content', 'choices[0].message.tool_calls[0].function.arguments', 'choices[1].message.content']);
    expect(rewritten.choices[0]!.message.tool_calls![0]!.function.arguments).toBe('{"x":1}');
    expect(rewritten.choices[1]).toBe(response.choices[1]);
    expect(rewriteAnswer(response, (_path, text) => text)).toBe(response);
  });

  it('redacts signed thinking too, whole and streamed, keeping each block’s text before its signature', async () => {
    const streamed = [
      chunk({ reasoning_content: 'mail carol@exa' }),
      chunk({ reasoning_content: 'mple.com', thinking_blocks: [{ type: 'thinking', thinking: '', signature: 's1' }] }),
      chunk({ content: 'done' }),
      chunk({}, 'stop'),
    ];
    const assembler = new ChatAssembler();
    for (const c of await collect(guardChunks(run('redact'), of(streamed)))) assembler.add(c);
    const whole = assembler.response()!;
    expect(whole.choices[0]!.message.thinking_blocks).toEqual([{ type: 'thinking', thinking: 'mail [EMAIL_1]', signature: 's1' }]);

    const unredacted = {
      ...whole,
      choices: [
        { ...whole.choices[0]!, message: { ...whole.choices[0]!.message, thinking_blocks: [{ type: 'thinking' as const, thinking: 'x', signature: 's' }] } },
      ],
    };
    const rewritten = rewriteAnswer(unredacted, (path, text) => (path === 'choices[0].message.thinking_blocks[0].thinking' ? 'hidden' : text));
    expect(rewritten.choices[0]!.message.thinking_blocks).toEqual([{ type: 'thinking', thinking: 'hidden', signature: 's' }]);
  });
});
