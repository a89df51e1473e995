import type { Message, MessageHeaders } from '@smithy/eventstream-codec';
import { chatCompletionId, nowSeconds, type ChatChunk, type ChunkChoice } from '../canonical.js';
import { finishReason, usageFromConverse, type ConverseUsage } from './bedrock-mapping.js';
import type { SseEvent } from '../sse.js';
import { networkError } from './http.js';
import { ProviderError, type FailureKind } from './types.js';

/**
 * ConverseStream's response is AWS's binary event stream
 * (application/vnd.amazon.eventstream): frames of
 *   total length (4) | headers length (4) | prelude CRC (4) | headers | payload | message CRC (4),
 * each with `:message-type` (event, exception or error) and, for events,
 * `:event-type` naming the member of the ConverseStreamOutput union.
 * Reference: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
 */

const PRELUDE_LENGTH = 12;
const MINIMUM_FRAME = 16;
// A bound on one frame's declared size, so a corrupt prelude fails fast instead of buffering forever.
const MAXIMUM_FRAME = 16 * 1024 * 1024;

/** Decoded frames of a byte stream whose chunks split frames anywhere (TCP does). */
export async function* readEventStream(source: AsyncIterable<Uint8Array>, provider: string): AsyncGenerator<Message> {
  // Loaded with the first stream, as the signing code is (see BedrockAdapter).
  const [{ EventStreamCodec }, { fromUtf8, toUtf8 }] = await Promise.all([import('@smithy/eventstream-codec'), import('@smithy/util-utf8')]);
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  let buffer: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of source) {
      buffer = buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([buffer, chunk]);
      while (buffer.length >= PRELUDE_LENGTH) {
        const total = buffer.readUInt32BE(0);
        if (total < MINIMUM_FRAME || total > MAXIMUM_FRAME) throw new Error(`event stream frame of ${total} bytes`);
        if (buffer.length < total) break;
        const frame = buffer.subarray(0, total);
        buffer = buffer.subarray(total);
        yield codec.decode(frame);
      }
    }
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    throw networkError(err, provider, `Provider ${provider} sent a broken event stream: ${(err as Error).message}`);
  }
  if (buffer.length > 0) throw networkError(undefined, provider, `Provider ${provider}'s event stream ended inside a frame.`);
}

function header(headers: MessageHeaders, name: string): string | undefined {
  const value = headers[name];
  return value?.type === 'string' ? value.value : undefined;
}

function payload<T>(message: Message, provider: string): T {
  try {
    return JSON.parse(Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString('utf8')) as T;
  } catch (err) {
    throw networkError(err, provider, `Provider ${provider} sent an event stream payload that is not JSON.`);
  }
}

/**
 * Frames as events named by their union member, payloads unread (passthrough): an event by its `:event-type`, an
 * exception by its `:exception-type`, a protocol error as an internalServerException carrying its message.
 */
export async function* namedEvents(frames: AsyncIterable<Message>): AsyncGenerator<SseEvent> {
  for await (const frame of frames) {
    const type = header(frame.headers, ':message-type');
    const data = Buffer.from(frame.body.buffer, frame.body.byteOffset, frame.body.byteLength).toString('utf8');
    if (type === 'event') yield { event: header(frame.headers, ':event-type') ?? '', data };
    else if (type === 'exception') yield { event: header(frame.headers, ':exception-type') ?? 'internalServerException', data };
    else {
      const message = header(frame.headers, ':error-message') ?? header(frame.headers, ':error-code') ?? 'unknown error';
      yield { event: 'internalServerException', data: JSON.stringify({ message }) };
    }
  }
}

/** Exceptions the ConverseStreamOutput union can carry mid-stream, by their member names. */
const STREAM_EXCEPTIONS: Record<string, FailureKind> = {
  throttlingException: 'rate_limit',
  serviceUnavailableException: 'server',
  internalServerException: 'server',
  modelStreamErrorException: 'server',
  validationException: 'bad_request',
};

const CONTEXT_WINDOW = /too many (?:input )?tokens|input is too long|prompt is too long|context (?:length|window)|maximum context/i;

function streamFailure(message: Message, provider: string): ProviderError {
  const type = header(message.headers, ':message-type');
  let kind: FailureKind;
  let name: string;
  let text: string;
  if (type === 'exception') {
    name = header(message.headers, ':exception-type') ?? 'unknown';
    text = payload<{ message?: string; Message?: string }>(message, provider).message ?? '';
    kind = STREAM_EXCEPTIONS[name] ?? 'server';
    if (kind === 'bad_request' && CONTEXT_WINDOW.test(text)) kind = 'context_window';
  } else {
    // `:message-type: error` frames are protocol-level failures with a code and message in headers.
    name = header(message.headers, ':error-code') ?? 'unknown';
    text = header(message.headers, ':error-message') ?? '';
    kind = 'server';
  }
  return new ProviderError(kind, provider, `Provider ${provider} failed mid-stream (${name})${text ? `: ${text}` : ''}`);
}

interface StreamEvents {
  messageStart: { role?: string };
  contentBlockStart: { contentBlockIndex?: number; start?: { toolUse?: { toolUseId: string; name: string } } };
  contentBlockDelta: {
    contentBlockIndex?: number;
    delta?: { text?: string; toolUse?: { input?: string }; reasoningContent?: { text?: string; signature?: string; redactedContent?: string } };
  };
  contentBlockStop: { contentBlockIndex?: number };
  messageStop: { stopReason?: string };
  metadata: { usage?: ConverseUsage };
}

/**
 * Canonical chunks for ConverseStream frames: a role chunk, text and tool call
 * deltas, a finish chunk on messageStop and, from metadata, a last usage-only
 * chunk with empty choices (as OpenAI sends with include_usage). A stream that
 * ends before messageStop broke, and is reported as such.
 */
export async function* converseChunks(frames: AsyncIterable<Message>, model: string, provider: string): AsyncGenerator<ChatChunk> {
  const base = { id: chatCompletionId(), object: 'chat.completion.chunk' as const, created: nowSeconds(), model };
  const chunk = (delta: ChunkChoice['delta'], finish: ChunkChoice['finish_reason'] = null): ChatChunk => ({
    ...base,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });
  // OpenAI numbers tool calls 0, 1, ... while Converse numbers all content blocks.
  const toolIndexOfBlock = new Map<number, number>();
  let stopped = false;

  for await (const frame of frames) {
    if (header(frame.headers, ':message-type') !== 'event') throw streamFailure(frame, provider);
    const type = header(frame.headers, ':event-type');
    switch (type) {
      case 'messageStart':
        yield chunk({ role: 'assistant', content: '' });
        break;
      case 'contentBlockStart': {
        const event = payload<StreamEvents['contentBlockStart']>(frame, provider);
        const toolUse = event.start?.toolUse;
        if (toolUse) {
          const index = toolIndexOfBlock.size;
          toolIndexOfBlock.set(event.contentBlockIndex ?? 0, index);
          yield chunk({ tool_calls: [{ index, id: toolUse.toolUseId, type: 'function', function: { name: toolUse.name, arguments: '' } }] });
        }
        break;
      }
      case 'contentBlockDelta': {
        const event = payload<StreamEvents['contentBlockDelta']>(frame, provider);
        if (event.delta?.text) yield chunk({ content: event.delta.text });
        const input = event.delta?.toolUse?.input;
        const index = toolIndexOfBlock.get(event.contentBlockIndex ?? 0);
        if (input && index !== undefined) yield chunk({ tool_calls: [{ index, function: { arguments: input } }] });
        // An Anthropic model's thinking: its text, then the signature that ends its block; redacted thinking whole.
        const reasoning = event.delta?.reasoningContent;
        if (reasoning?.text) yield chunk({ reasoning_content: reasoning.text });
        if (reasoning?.signature) yield chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: reasoning.signature }] });
        if (reasoning?.redactedContent) yield chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: reasoning.redactedContent }] });
        break;
      }
      case 'messageStop':
        stopped = true;
        yield chunk({}, finishReason(payload<StreamEvents['messageStop']>(frame, provider).stopReason));
        break;
      case 'metadata': {
        const event = payload<StreamEvents['metadata']>(frame, provider);
        if (event.usage) yield { ...base, choices: [], usage: usageFromConverse(event.usage) };
        break;
      }
      default:
        // contentBlockStop and members added to the union later carry nothing to translate.
        break;
    }
  }
  if (!stopped) throw networkError(undefined, provider, `Provider ${provider}'s stream ended before the message was complete.`);
}
