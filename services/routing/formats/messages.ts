import { streamErrorEvent } from '../../kit/api-errors.js';
import type { GatewayError } from '../../kit/errors.js';
import type { ChatChunk, ChatResponse, FinishReason, OpenAIUsage } from '../canonical.js';
import type * as A from '../providers/anthropic-wire.js';
import { toChatRequest } from './messages-request.js';
import type { InboundFormat, OutEvent, Translation } from './types.js';

/*
 * The Anthropic Messages API (POST /v1/messages) served on top of chat:
 * requests are translated in messages-request.ts, responses and streams here.
 * Reference: https://docs.anthropic.com/en/api/messages and .../messages-streaming.
 */

function stopReason(finish: FinishReason | null | undefined): A.StopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn'; // OpenAI's "stop" does not say whether a stop sequence matched
  }
}

/**
 * OpenAI's prompt_tokens includes cache reads and writes; Anthropic counts them apart from input_tokens.
 * The writes by TTL and the thinking count go along when the provider reported them.
 */
function anthropicUsage(usage: OpenAIUsage | null | undefined): A.Usage & Required<Pick<A.Usage, 'cache_creation_input_tokens' | 'cache_read_input_tokens'>> {
  const cacheRead = usage?.prompt_tokens_details?.cached_tokens ?? 0;
  const cacheCreation = usage?.cache_creation_input_tokens ?? 0;
  const thinking = usage?.completion_tokens_details?.reasoning_tokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage?.prompt_tokens ?? 0) - cacheRead - cacheCreation),
    output_tokens: usage?.completion_tokens ?? 0,
    cache_creation_input_tokens: cacheCreation,
    cache_read_input_tokens: cacheRead,
    ...(usage?.cache_creation ? { cache_creation: usage.cache_creation } : {}),
    ...(thinking > 0 ? { output_tokens_details: { thinking_tokens: thinking } } : {}),
  };
}

function messageId(id: string | undefined): string {
  if (id?.startsWith('msg_')) return id;
  const suffix = id?.replace(/^chatcmpl-/, '') || globalThis.crypto.randomUUID().replace(/-/g, '');
  return `msg_${suffix}`;
}

/** Tool input must be an object; arguments a model got wrong are kept rather than dropped. */
function toolInput(args: string): Record<string, unknown> {
  if (!args.trim()) return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { arguments: args };
}

/** An answer's thinking: an Anthropic model's signed blocks as they came, else reasoning another provider wrote aloud, unsigned. */
function thinkingBlocks(message: ChatResponse['choices'][number]['message'] | undefined): A.ResponseBlock[] {
  if (message?.thinking_blocks?.length) return message.thinking_blocks.map((block) => ({ ...block }));
  return message?.reasoning_content ? [{ type: 'thinking', thinking: message.reasoning_content, signature: '' }] : [];
}

function toMessage(result: ChatResponse, model: string): A.Message {
  const choice = result.choices[0];
  const content = thinkingBlocks(choice?.message);
  const text = `${choice?.message.content ?? ''}${choice?.message.refusal ?? ''}`;
  if (text) content.push({ type: 'text', text });
  for (const call of choice?.message.tool_calls ?? []) {
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call.function.arguments) });
  }
  return {
    id: messageId(result.id),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(choice?.finish_reason),
    stop_sequence: null,
    usage: anthropicUsage(result.usage),
  };
}

const event = (data: A.StreamEvent): OutEvent => ({ event: data.type, data: JSON.stringify(data) });

/**
 * Chat chunks as Anthropic stream events. Blocks are sequential in Anthropic's
 * stream, so a text block is closed before a tool_use block opens and vice
 * versa. Input token counts arrive only with the last chunk, so message_start
 * carries zeros and message_delta the whole usage (as the API itself does).
 */
async function* toEvents(chunks: AsyncIterable<ChatChunk>, model: string): AsyncGenerator<OutEvent> {
  let started = false;
  type Kind = 'thinking' | 'redacted' | 'text' | 'tool';
  let open: { index: number; kind: Kind } | undefined;
  let nextIndex = 0;
  const toolBlocks = new Map<number, number>(); // OpenAI tool_calls index → Anthropic block index
  let finish: FinishReason | null = null;
  let usage: OpenAIUsage | null | undefined;

  const start = (chunk: ChatChunk | undefined): OutEvent => {
    started = true;
    const message: A.Message = {
      id: messageId(chunk?.id),
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: anthropicUsage(undefined),
    };
    return event({ type: 'message_start', message });
  };
  function* close(): Generator<OutEvent> {
    if (open) yield event({ type: 'content_block_stop', index: open.index });
    open = undefined;
  }
  function* openBlock(kind: Kind, block: A.ResponseBlock): Generator<OutEvent> {
    yield* close();
    open = { index: nextIndex++, kind };
    yield event({ type: 'content_block_start', index: open.index, content_block: block });
  }

  for await (const chunk of chunks) {
    if (!started) yield start(chunk);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices.find((c) => c.index === 0);
    if (!choice) continue;
    const thinking = choice.delta.reasoning_content;
    if (thinking) {
      if (open?.kind !== 'thinking') yield* openBlock('thinking', { type: 'thinking', thinking: '', signature: '' });
      yield event({ type: 'content_block_delta', index: open!.index, delta: { type: 'thinking_delta', thinking } });
    }
    // A signature ends its thinking block (the next thinking opens another); a redacted block comes whole.
    for (const block of choice.delta.thinking_blocks ?? []) {
      if (block.type === 'thinking') {
        if (open?.kind !== 'thinking') yield* openBlock('thinking', { type: 'thinking', thinking: '', signature: '' });
        yield event({ type: 'content_block_delta', index: open!.index, delta: { type: 'signature_delta', signature: block.signature } });
      } else yield* openBlock('redacted', { type: 'redacted_thinking', data: block.data });
      yield* close();
    }
    const text = `${choice.delta.content ?? ''}${choice.delta.refusal ?? ''}`;
    if (text) {
      if (open?.kind !== 'text') yield* openBlock('text', { type: 'text', text: '' });
      yield event({ type: 'content_block_delta', index: open!.index, delta: { type: 'text_delta', text } });
    }
    for (const call of choice.delta.tool_calls ?? []) {
      let index = toolBlocks.get(call.index);
      if (index === undefined) {
        const id = call.id ?? `toolu_${globalThis.crypto.randomUUID().replace(/-/g, '')}`;
        yield* openBlock('tool', { type: 'tool_use', id, name: call.function?.name ?? '', input: {} });
        index = open!.index;
        toolBlocks.set(call.index, index);
      }
      const fragment = call.function?.arguments;
      if (fragment) yield event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: fragment } });
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  if (!started) yield start(undefined);
  yield* close();
  yield { ...event({ type: 'message_delta', delta: { stop_reason: stopReason(finish), stop_sequence: null }, usage: anthropicUsage(usage) }), final: true };
  yield event({ type: 'message_stop' });
}

export const messagesFormat: InboundFormat = {
  endpoint: 'messages',
  parse(body: unknown): Translation {
    const chat = toChatRequest(body);
    // Answered as the model the client named: Claude Code drops signed thinking from a turn another model answered.
    return {
      chat,
      response: (result) => toMessage(result, chat.model),
      stream: (chunks) => toEvents(chunks, chat.model),
    };
  },
  errorEvent(err: GatewayError): OutEvent {
    return streamErrorEvent('messages', err);
  },
};
