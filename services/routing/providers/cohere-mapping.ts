/**
 * Translation between the OpenAI shape (canonical.ts) and Cohere's API v2
 * wire format: POST /v2/chat, its server-sent events, and POST /v2/embed.
 * Reference: https://docs.cohere.com/v2/reference/chat and /chat-stream.
 */
import {
  chatCompletionId,
  contentText,
  nowSeconds,
  type ChatChunk,
  type ChatRequest,
  type ChatResponse,
  type ChunkChoice,
  type ContentPart,
  type FinishReason,
  type FunctionTool,
  type OpenAIUsage,
  type ToolCall,
} from '../canonical.js';
import type { SseEvent } from '../sse.js';
import { networkError } from './http.js';
import { ProviderError } from './types.js';

// ---- Cohere v2 wire types (only the fields the adapter writes or reads) ----

export interface CohereToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type CohereContentItem = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

export type CohereMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | CohereContentItem[] }
  | { role: 'assistant'; content?: string; tool_calls?: CohereToolCall[]; tool_plan?: string }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface CohereTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface CohereChatRequest {
  model: string;
  messages: CohereMessage[];
  stream: boolean;
  tools?: CohereTool[];
  strict_tools?: boolean;
  tool_choice?: 'REQUIRED' | 'NONE';
  response_format?: { type: 'text' } | { type: 'json_object'; json_schema?: Record<string, unknown> };
  temperature?: number;
  p?: number;
  max_tokens?: number;
  stop_sequences?: string[];
  seed?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  logprobs?: boolean;
}

export interface CohereUsage {
  billed_units?: { input_tokens?: number; output_tokens?: number };
  tokens?: { input_tokens?: number; output_tokens?: number };
  cached_tokens?: number;
}

export interface CohereLogprob {
  text?: string;
  token_ids: number[];
  logprobs?: number[];
}

export interface CohereChatResponse {
  id: string;
  finish_reason: string;
  message: {
    role: 'assistant';
    content?: { type: string; text?: string }[];
    tool_calls?: { id: string; type: 'function'; function?: { name?: string; arguments?: string } }[];
    tool_plan?: string;
  };
  usage?: CohereUsage;
  logprobs?: CohereLogprob[];
}

/** One data payload of the /v2/chat event stream; which fields are set depends on `type`. */
export interface CohereStreamEvent {
  type?: string;
  id?: string;
  index?: number;
  delta?: {
    message?: {
      // An array on message-start, an object on content-start/-delta.
      content?: { type?: string; text?: string; thinking?: string } | unknown[];
      tool_plan?: string;
      // An array on message-start, one call on tool-call-start/-delta.
      tool_calls?: { id?: string; type?: 'function'; function?: { name?: string; arguments?: string } } | unknown[];
    };
    finish_reason?: string;
    usage?: CohereUsage;
    error?: string;
  };
  logprobs?: CohereLogprob;
}

export interface CohereEmbedResponse {
  id: string;
  embeddings: { float?: number[][] };
  texts?: string[];
  meta?: { billed_units?: { input_tokens?: number } };
}

// ---- OpenAI → Cohere ----

function badRequest(provider: string, message: string): ProviderError {
  return new ProviderError('bad_request', provider, `Provider ${provider} cannot take this request: ${message}`);
}

function userContent(content: string | ContentPart[], provider: string): string | CohereContentItem[] {
  if (typeof content === 'string') return content;
  return content.map((part): CohereContentItem => {
    // ContentPart is open-ended, so read its fields loosely and check them.
    const fields = part as { type: string; text?: unknown; image_url?: { url?: unknown; detail?: 'auto' | 'low' | 'high' } };
    if (fields.type === 'text' && typeof fields.text === 'string') return { type: 'text', text: fields.text };
    if (fields.type === 'image_url') {
      const image = fields.image_url;
      if (typeof image?.url !== 'string') throw badRequest(provider, 'an image_url part has no url.');
      return { type: 'image_url', image_url: { url: image.url, ...(image.detail ? { detail: image.detail } : {}) } };
    }
    throw badRequest(provider, `Cohere accepts text and image_url content, not ${part.type}.`);
  });
}

function messagesToCohere(request: ChatRequest, provider: string): CohereMessage[] {
  return request.messages.map((message): CohereMessage => {
    switch (message.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content: contentText(message.content) };
      case 'user':
        return { role: 'user', content: userContent(message.content, provider) };
      case 'assistant': {
        const text = contentText(message.content);
        if (message.tool_calls && message.tool_calls.length > 0) {
          // Cohere carries the text that precedes tool calls as the tool plan.
          return {
            role: 'assistant',
            tool_calls: message.tool_calls.map((call) => ({
              id: call.id,
              type: 'function',
              function: { name: call.function.name, arguments: call.function.arguments },
            })),
            ...(text ? { tool_plan: text } : {}),
          };
        }
        return { role: 'assistant', content: text };
      }
      case 'tool':
        return { role: 'tool', tool_call_id: message.tool_call_id, content: contentText(message.content) };
    }
  });
}

function toolToCohere(tool: FunctionTool): CohereTool {
  const { name, description, parameters } = tool.function;
  // Cohere requires parameters; a tool without arguments gets an empty object schema.
  return { type: 'function', function: { name, ...(description ? { description } : {}), parameters: parameters ?? { type: 'object', properties: {} } } };
}

/** Copies the number only when set: Cohere rejects nulls where OpenAI clients often send them. */
function num(value: number | null | undefined): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/**
 * Brings a number into Cohere's documented range: p is 0.01–0.99 (clients
 * commonly send top_p: 1) and the penalties are 0–1 (OpenAI allows -2–2);
 * out of range, Cohere refuses the whole request.
 */
function within(value: number | null | undefined, min: number, max: number): number | undefined {
  return typeof value === 'number' ? Math.min(max, Math.max(min, value)) : undefined;
}

export function chatRequestToCohere(request: ChatRequest, stream: boolean, provider: string): CohereChatRequest {
  const body: CohereChatRequest = { model: request.model, messages: messagesToCohere(request, provider), stream };
  let tools = request.tools;
  const choice = request.tool_choice;
  if (typeof choice === 'object') {
    // Cohere cannot name the tool to call: offer only that tool and require a call.
    tools = tools?.filter((tool) => tool.function.name === choice.function.name);
    if (!tools || tools.length === 0) throw badRequest(provider, `tool_choice names ${choice.function.name}, which is not among the tools.`);
    body.tool_choice = 'REQUIRED';
  } else if (choice === 'required') body.tool_choice = 'REQUIRED';
  else if (choice === 'none') body.tool_choice = 'NONE';
  if (tools && tools.length > 0) {
    body.tools = tools.map(toolToCohere);
    if (tools.some((tool) => tool.function.strict === true)) body.strict_tools = true;
  } else if (body.tool_choice === 'NONE') {
    delete body.tool_choice; // NONE without tools is meaningless and may be refused.
  }
  const format = request.response_format;
  if (format?.type === 'json_object') body.response_format = { type: 'json_object' };
  else if (format?.type === 'json_schema') {
    body.response_format = { type: 'json_object', ...(format.json_schema.schema ? { json_schema: format.json_schema.schema } : {}) };
  }
  const maxTokens = num(request.max_completion_tokens) ?? num(request.max_tokens);
  const stop = request.stop == null ? undefined : Array.isArray(request.stop) ? request.stop : [request.stop];
  const optional: Partial<CohereChatRequest> = {
    temperature: num(request.temperature),
    p: within(request.top_p, 0.01, 0.99),
    max_tokens: maxTokens,
    stop_sequences: stop && stop.length > 0 ? stop : undefined,
    seed: num(request.seed),
    frequency_penalty: within(request.frequency_penalty, 0, 1),
    presence_penalty: within(request.presence_penalty, 0, 1),
    logprobs: request.logprobs === true ? true : undefined,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(body, { [key]: value });
  return body;
}

// ---- Cohere → OpenAI ----

export function finishReasonFromCohere(reason: string | undefined): FinishReason {
  switch (reason) {
    case 'MAX_TOKENS':
    case 'ERROR_LIMIT':
      return 'length';
    case 'TOOL_CALL':
      return 'tool_calls';
    case 'ERROR_TOXIC':
      return 'content_filter';
    default:
      // COMPLETE, STOP_SEQUENCE, and ERROR/TIMEOUT, which have no OpenAI counterpart.
      return 'stop';
  }
}

/**
 * Cohere reports raw `tokens` (including its own prompt template) and the
 * `billed_units` it charges for; usage feeds metering, so the billed numbers
 * win when present. cached_tokens counts raw tokens, so it is only reported
 * alongside raw numbers (it can exceed the billed input count).
 */
export function usageFromCohere(usage: CohereUsage | undefined): OpenAIUsage {
  const billed = usage?.billed_units;
  const useBilled = billed?.input_tokens !== undefined || billed?.output_tokens !== undefined;
  const source = useBilled ? billed : usage?.tokens;
  const prompt = source?.input_tokens ?? 0;
  const completion = source?.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(!useBilled && usage?.cached_tokens ? { prompt_tokens_details: { cached_tokens: usage.cached_tokens } } : {}),
  };
}

/** Cohere scores a piece of text (one or more tokens); OpenAI lists tokens, so each piece becomes one entry. */
function logprobEntry(item: CohereLogprob) {
  const token = item.text ?? '';
  return { token, logprob: (item.logprobs ?? []).reduce((sum, value) => sum + value, 0), bytes: [...Buffer.from(token, 'utf8')], top_logprobs: [] };
}

export function responseFromCohere(body: CohereChatResponse, model: string): ChatResponse {
  const text = (body.message.content ?? []).map((item) => (item.type === 'text' && typeof item.text === 'string' ? item.text : '')).join('');
  const toolCalls: ToolCall[] = (body.message.tool_calls ?? []).map((call) => ({
    id: call.id,
    type: 'function',
    function: { name: call.function?.name ?? '', arguments: call.function?.arguments ?? '{}' },
  }));
  const content = text || (toolCalls.length > 0 ? (body.message.tool_plan ?? null) : '');
  return {
    id: body.id,
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), refusal: null },
        finish_reason: finishReasonFromCohere(body.finish_reason),
        logprobs: body.logprobs ? { content: body.logprobs.map(logprobEntry), refusal: null } : null,
      },
    ],
    usage: usageFromCohere(body.usage),
  };
}

/**
 * Turns the /v2/chat event stream into OpenAI chunks: a role chunk, text and
 * tool-plan deltas as content, tool calls as indexed deltas (id and name
 * first, then argument fragments), a finish chunk and a usage-only chunk from
 * message-end. A stream that ends without message-end was cut off, and throws.
 */
export async function* chunksFromCohere(events: AsyncIterable<SseEvent>, model: string, provider: string): AsyncGenerator<ChatChunk> {
  let id = chatCompletionId();
  const created = nowSeconds();
  const chunk = (delta: ChunkChoice['delta'], finish: FinishReason | null = null, logprobs: unknown = null): ChatChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs }],
  });
  // Cohere numbers tool calls by content position; OpenAI wants 0, 1, 2… in call order.
  const toolIndex = new Map<number, number>();
  let ended = false;
  for await (const { event, data } of events) {
    // Keep reading after message-end so the connection is drained and can be reused.
    if (ended || data === '[DONE]') continue;
    let parsed: CohereStreamEvent;
    try {
      parsed = JSON.parse(data) as CohereStreamEvent;
    } catch (err) {
      throw networkError(err, provider, `Provider ${provider} sent a stream event that is not JSON.`);
    }
    const message = parsed.delta?.message;
    switch (parsed.type ?? event) {
      case 'message-start':
        if (parsed.id) id = parsed.id;
        yield chunk({ role: 'assistant', content: '' });
        break;
      case 'content-start':
      case 'content-delta': {
        const content = message?.content;
        // Thinking content (reasoning models) has no place in the OpenAI shape.
        const text = content && !Array.isArray(content) ? content.text : undefined;
        const logprobs = parsed.logprobs ? { content: [logprobEntry(parsed.logprobs)], refusal: null } : null;
        if (text) yield chunk({ content: text }, null, logprobs);
        break;
      }
      case 'tool-plan-delta':
        if (message?.tool_plan) yield chunk({ content: message.tool_plan });
        break;
      case 'tool-call-start': {
        const call = message?.tool_calls;
        if (!call || Array.isArray(call)) break;
        const index = toolIndex.size;
        toolIndex.set(parsed.index ?? index, index);
        const args = call.function?.arguments ?? '';
        yield chunk({
          tool_calls: [{ index, id: call.id ?? `call_${index}`, type: 'function', function: { name: call.function?.name ?? '', arguments: args } }],
        });
        break;
      }
      case 'tool-call-delta': {
        const call = message?.tool_calls;
        const args = call && !Array.isArray(call) ? call.function?.arguments : undefined;
        const index = toolIndex.get(parsed.index ?? -1) ?? Math.max(0, toolIndex.size - 1);
        if (args) yield chunk({ tool_calls: [{ index, function: { arguments: args } }] });
        break;
      }
      case 'message-end': {
        ended = true;
        const delta = parsed.delta;
        if (delta?.error) throw new ProviderError('server', provider, `Provider ${provider} failed mid-stream: ${delta.error}`);
        yield chunk({}, finishReasonFromCohere(delta?.finish_reason));
        yield { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usageFromCohere(delta?.usage) };
        break;
      }
      default:
        // content-end, tool-call-end, citation-start/-end, debug: nothing to forward.
        break;
    }
  }
  if (!ended) throw new ProviderError('network', provider, `Provider ${provider} ended the stream before it finished (no message-end event).`);
}
