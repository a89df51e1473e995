import {
  nowSeconds,
  type ChatChunk,
  type ChatMessage,
  type ChatRequest,
  type ChatResponse,
  type ChunkChoice,
  type ContentPart,
  type FinishReason,
  type OpenAIUsage,
  type TextPart,
  type ThinkingBlock,
  type ToolCall,
} from '../canonical.js';
import type { SseEvent } from '../sse.js';
import type * as A from './anthropic-wire.js';
import { parseDataUrl } from './anthropic-wire.js';
import { networkError } from './http.js';
import { anthropicThinkingFor } from './thinking-budget.js';
import { ProviderError, type FailureKind } from './types.js';

/*
 * OpenAI chat shape ↔ Anthropic Messages API, for the anthropic provider adapter.
 */

/** Told to the model for `json_object`, which Anthropic has no switch for. */
export const JSON_OBJECT_INSTRUCTION = 'Respond with a single valid JSON object and nothing else.';

type Turn = { role: 'user' | 'assistant'; blocks: A.RequestBlock[] };

/** The Anthropic request for an OpenAI chat request (without `stream`). */
export function toAnthropicRequest(request: ChatRequest, provider: string, defaultMaxTokens: number): A.MessagesRequest {
  const invalid = (message: string) => new ProviderError('bad_request', provider, `Provider ${provider} (Anthropic) cannot take this request: ${message}`);
  if (typeof request.n === 'number' && request.n > 1) throw invalid('n > 1 is not supported.');

  const system: A.TextBlock[] = [];
  const turns: Turn[] = [];
  // Anthropic wants user and assistant turns to alternate: consecutive same-role messages become one turn.
  const push = (role: Turn['role'], blocks: A.RequestBlock[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  };
  for (const message of request.messages) pushMessage(message, system, push, invalid);

  const format = request.response_format;
  if (format?.type === 'json_object') system.push({ type: 'text', text: JSON_OBJECT_INSTRUCTION });

  const body: A.MessagesRequest = {
    model: request.model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? defaultMaxTokens,
    messages: turns.map(({ role, blocks }) => ({ role, content: collapse(blocks) })),
  };
  if (system.length > 0) body.system = system.length === 1 && !system[0]!.cache_control ? system[0]!.text : system;
  // Passed as is, not clamped: Anthropic's range is 0–1 (OpenAI's 0–2), and its 400 says so plainly.
  if (request.temperature != null) body.temperature = request.temperature;
  if (request.top_p != null) body.top_p = request.top_p;
  if (request.stop != null) body.stop_sequences = typeof request.stop === 'string' ? [request.stop] : request.stop;
  if (request.user) body.metadata = { user_id: request.user };
  // json_schema uses Anthropic's native structured outputs (output_config.format); models
  // that predate it answer 400, which the router returns as the client's bad request.
  const outputFormat =
    format?.type === 'json_schema' ? { format: { type: 'json_schema' as const, schema: format.json_schema.schema ?? { type: 'object' } } } : {};
  if (request.output_config || outputFormat.format) body.output_config = { ...request.output_config, ...outputFormat };
  // reasoning_effort as extended thinking, unless the client set its own `thinking` (docs/routing.md#reasoning-effort).
  const fromEffort = request.thinking ? undefined : anthropicThinkingFor(request, defaultMaxTokens, invalid);
  if (request.thinking) body.thinking = request.thinking;
  else if (fromEffort) {
    body.max_tokens = fromEffort.maxTokens;
    body.thinking = { type: 'enabled', budget_tokens: fromEffort.budgetTokens };
  }
  if (request.context_management) body.context_management = request.context_management;

  if (request.tools && request.tools.length > 0) {
    // `strict` is not forwarded: OpenAI clients often set it, and older Claude models reject it.
    body.tools = request.tools.map(({ function: fn }) => ({
      name: fn.name,
      ...(fn.description ? { description: fn.description } : {}),
      input_schema: fn.parameters ?? { type: 'object', properties: {} },
    }));
    const choice = request.tool_choice;
    const noParallel = request.parallel_tool_calls === false ? { disable_parallel_tool_use: true } : {};
    if (choice === 'none') body.tool_choice = { type: 'none' };
    else if (choice === 'required') body.tool_choice = { type: 'any', ...noParallel };
    else if (typeof choice === 'object') body.tool_choice = { type: 'tool', name: choice.function.name, ...noParallel };
    else if (choice === 'auto' || request.parallel_tool_calls === false) body.tool_choice = { type: 'auto', ...noParallel };
  }
  return body;
}

function pushMessage(
  message: ChatMessage,
  system: A.TextBlock[],
  push: (role: Turn['role'], blocks: A.RequestBlock[]) => void,
  invalid: (message: string) => ProviderError,
): void {
  switch (message.role) {
    case 'system':
    case 'developer':
      system.push(...textBlocks(message.content));
      return;
    case 'user':
      push('user', typeof message.content === 'string' ? textBlocks(message.content) : message.content.flatMap((part) => userBlock(part, invalid)));
      return;
    case 'assistant':
      // Signed thinking goes first and unchanged, as Anthropic requires it before the tool use it led to.
      push('assistant', [
        ...(message.thinking_blocks ?? []).map((block) => thinkingBlock(block, invalid)),
        ...textBlocks(message.content ?? ''),
        ...(message.tool_calls ?? []).map((call) => toolUse(call, invalid)),
      ]);
      return;
    case 'tool': {
      const content = textBlocks(message.content);
      const result: A.ToolResultBlock = { type: 'tool_result', tool_use_id: message.tool_call_id };
      if (content.length > 0) result.content = content.some((b) => b.cache_control) || content.length > 1 ? content : content[0]!.text;
      push('user', [result]);
      return;
    }
  }
}

/** Text content as text blocks; empty text is dropped since Anthropic rejects empty text blocks. */
function textBlocks(content: string | readonly TextPart[]): A.TextBlock[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  return content
    .filter((part) => part.type === 'text' && part.text)
    .map((part) => ({ type: 'text', text: part.text, ...(part.cache_control ? { cache_control: part.cache_control } : {}) }));
}

function userBlock(part: ContentPart, invalid: (message: string) => ProviderError): A.RequestBlock[] {
  if (part.type === 'text') return textBlocks([part as TextPart]);
  if (part.type === 'image_url') {
    const url = (part as { image_url?: { url?: unknown } }).image_url?.url;
    if (typeof url !== 'string') throw invalid('an image_url part has no url.');
    const inline = parseDataUrl(url);
    if (inline) return [{ type: 'image', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } }];
    if (/^https?:\/\//i.test(url)) return [{ type: 'image', source: { type: 'url', url } }];
    throw invalid(url.startsWith('data:') ? 'image data: URLs must be base64-encoded.' : 'image URLs must be data: or http(s): URLs.');
  }
  if (part.type === 'file') {
    // OpenAI's inline file part; Anthropic takes PDFs as document blocks.
    const file = (part as { file?: { file_data?: unknown; filename?: unknown } }).file;
    const inline = typeof file?.file_data === 'string' ? parseDataUrl(file.file_data) : undefined;
    if (inline?.mediaType === 'application/pdf') {
      return [
        {
          type: 'document',
          source: { type: 'base64', media_type: inline.mediaType, data: inline.data },
          ...(typeof file?.filename === 'string' ? { title: file.filename } : {}),
        },
      ];
    }
    throw invalid('only inline PDF files (file_data as a data: URL) are supported.');
  }
  throw invalid(`content parts of type "${part.type}" are not supported.`);
}

function thinkingBlock(block: ThinkingBlock, invalid: (message: string) => ProviderError): A.ThinkingBlock | A.RedactedThinkingBlock {
  if (block?.type === 'thinking' && typeof block.thinking === 'string' && typeof block.signature === 'string') {
    return { type: 'thinking', thinking: block.thinking, signature: block.signature };
  }
  if (block?.type === 'redacted_thinking' && typeof block.data === 'string') return { type: 'redacted_thinking', data: block.data };
  throw invalid('thinking_blocks must be thinking blocks (thinking, signature) or redacted_thinking blocks (data).');
}

function toolUse(call: ToolCall, invalid: (message: string) => ProviderError): A.ToolUseBlock {
  const raw = call.function.arguments.trim();
  let input: unknown = {};
  if (raw) {
    try {
      input = JSON.parse(raw);
    } catch {
      input = undefined;
    }
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(`the arguments of tool call ${call.id} are not a JSON object.`);
  }
  return { type: 'tool_use', id: call.id, name: call.function.name, input: input as Record<string, unknown> };
}

/** A turn that is one plain text block is sent as a string, as clients usually write it. */
function collapse(blocks: A.RequestBlock[]): string | A.RequestBlock[] {
  const only = blocks.length === 1 ? blocks[0] : undefined;
  return only?.type === 'text' && !only.cache_control ? only.text : blocks;
}

export function finishReason(stop: A.StopReason | null): FinishReason {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/**
 * Anthropic counts cache reads and writes apart from input_tokens; OpenAI's prompt_tokens includes them.
 * Both count thinking inside the output, which Anthropic breaks out as thinking_tokens.
 */
export function openAIUsage(usage: A.Usage): OpenAIUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheCreation = usage.cache_creation_input_tokens ?? 0;
  const prompt = usage.input_tokens + cacheRead + cacheCreation;
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.output_tokens,
    total_tokens: prompt + usage.output_tokens,
    prompt_tokens_details: { cached_tokens: cacheRead },
    completion_tokens_details: { reasoning_tokens: usage.output_tokens_details?.thinking_tokens ?? 0 },
    ...(usage.cache_creation_input_tokens != null ? { cache_creation_input_tokens: cacheCreation } : {}),
    ...(usage.cache_creation ? { cache_creation: usage.cache_creation } : {}),
  };
}

/** The thinking blocks of an answer as they must go back, and their text as reasoning_content. */
function thinkingOf(content: A.ResponseBlock[]): Pick<ChatResponse['choices'][number]['message'], 'reasoning_content' | 'thinking_blocks'> {
  const blocks: ThinkingBlock[] = content.flatMap((block): ThinkingBlock[] => {
    if (block.type === 'thinking') return [{ type: 'thinking', thinking: block.thinking, signature: block.signature }];
    return block.type === 'redacted_thinking' ? [{ type: 'redacted_thinking', data: block.data }] : [];
  });
  if (blocks.length === 0) return {};
  const reasoning = blocks.map((block) => (block.type === 'thinking' ? block.thinking : '')).join('');
  return { reasoning_content: reasoning, thinking_blocks: blocks };
}

export function fromAnthropicMessage(message: A.Message): ChatResponse {
  const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
  const toolCalls: ToolCall[] = message.content.flatMap((block) =>
    block.type === 'tool_use' ? [{ id: block.id, type: 'function' as const, function: { name: block.name, arguments: JSON.stringify(block.input) } }] : [],
  );
  return {
    id: message.id,
    object: 'chat.completion',
    created: nowSeconds(),
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text || (toolCalls.length > 0 ? null : ''),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          ...thinkingOf(message.content),
          refusal: null,
        },
        finish_reason: finishReason(message.stop_reason),
        logprobs: null,
      },
    ],
    usage: openAIUsage(message.usage),
  };
}

/** The failure kind of a mid-stream `error` event, which has a type but no HTTP status. */
function streamErrorKind(type: string, message: string): FailureKind {
  switch (type) {
    case 'rate_limit_error':
      return 'rate_limit';
    case 'authentication_error':
    case 'permission_error':
      return 'auth';
    case 'billing_error':
      return 'payment';
    case 'invalid_request_error':
      return /prompt is too long|context limit|context window/i.test(message) ? 'context_window' : 'bad_request';
    default:
      return 'server'; // overloaded_error, api_error, timeout_error and unknown types
  }
}

/**
 * Anthropic stream events as OpenAI chunks, the way OpenAI streams with
 * include_usage: a role chunk, content and tool-call deltas, a finish chunk,
 * then a usage-only chunk with no choices. A stream that ends before
 * message_stop is an error, so a cut-off reply is never taken as complete.
 */
export async function* toChatChunks(events: AsyncIterable<SseEvent>, provider: string): AsyncGenerator<ChatChunk> {
  // Omit<ChatChunk, 'choices'> would lose the named fields to ChatChunk's index signature.
  let base: Pick<ChatChunk, 'id' | 'object' | 'created' | 'model'> | undefined;
  let usage: A.Usage = { input_tokens: 0, output_tokens: 0 };
  const toolIndex = new Map<number, number>(); // Anthropic block index → OpenAI tool_calls index
  const chunk = (delta: ChunkChoice['delta'], finish: FinishReason | null = null): ChatChunk => {
    if (!base) throw networkError(undefined, provider, `Provider ${provider} sent stream content before message_start.`);
    return { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
  };
  for await (const { data } of events) {
    let event: A.StreamEvent;
    try {
      event = JSON.parse(data) as A.StreamEvent;
    } catch (err) {
      throw networkError(err, provider, `Provider ${provider} sent a stream event that is not JSON.`);
    }
    switch (event.type) {
      case 'message_start':
        base = { id: event.message.id, object: 'chat.completion.chunk', created: nowSeconds(), model: event.message.model };
        usage = { ...event.message.usage };
        yield chunk({ role: 'assistant', content: '' });
        break;
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'tool_use') {
          const index = toolIndex.size;
          toolIndex.set(event.index, index);
          yield chunk({ tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] });
        } else if (block.type === 'text' && block.text) {
          yield chunk({ content: block.text });
        } else if (block.type === 'redacted_thinking') {
          yield chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: block.data }] });
        }
        break;
      }
      case 'content_block_delta': {
        const delta = event.delta;
        const index = toolIndex.get(event.index);
        if (delta.type === 'text_delta' && delta.text) yield chunk({ content: delta.text });
        else if (delta.type === 'thinking_delta' && delta.thinking) yield chunk({ reasoning_content: delta.thinking });
        // The signature comes last in its block: it ends the thinking block whose text streamed before it.
        else if (delta.type === 'signature_delta') yield chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: delta.signature }] });
        else if (delta.type === 'input_json_delta' && delta.partial_json && index !== undefined) {
          yield chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] });
        }
        break;
      }
      case 'message_delta':
        // Counts here are cumulative (newer API versions repeat the input and cache counts): each one sent replaces the last.
        usage = { ...usage, ...Object.fromEntries(Object.entries(event.usage).filter(([, value]) => value != null)) };
        yield chunk({}, finishReason(event.delta.stop_reason));
        break;
      case 'message_stop':
        if (!base) throw networkError(undefined, provider, `Provider ${provider} sent message_stop before message_start.`);
        yield { ...base, choices: [], usage: openAIUsage(usage) };
        return;
      case 'error': {
        const { type, message } = event.error ?? { type: 'api_error', message: '' };
        const kind = streamErrorKind(type, message);
        throw new ProviderError(kind, provider, `Provider ${provider} failed mid-stream (${type}): ${message}`);
      }
      default:
        break; // ping, content_block_stop and event types added later
    }
  }
  throw networkError(undefined, provider, `Provider ${provider} ended the stream before message_stop.`);
}
