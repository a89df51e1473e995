import {
  chatCompletionId,
  contentText,
  nowSeconds,
  type ChatMessage,
  type ChatRequest,
  type ChatResponse,
  type ContentPart,
  type FinishReason,
  type OpenAIUsage,
  type TextPart,
  type ThinkingBlock,
  type ToolCall,
} from '../canonical.js';
import { anthropicThinkingFor } from './thinking-budget.js';
import { ProviderError } from './types.js';

/**
 * Translation between the canonical (OpenAI) shape and Bedrock's Converse API.
 * Reference: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
 * Only the members the gateway writes or reads are typed.
 */

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export type ConverseContentBlock =
  | { text: string }
  | { image: { format: ImageFormat; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | { toolResult: { toolUseId: string; content: ({ text: string } | { json: unknown })[]; status?: 'success' | 'error' } }
  | CachePoint
  | { reasoningContent: ReasoningContent };

/** An Anthropic model's thinking as Converse carries it: signed text, or redacted (base64 bytes). */
export type ReasoningContent = { reasoningText: { text: string; signature?: string } } | { redactedContent: string };

export interface ConverseMessage {
  role: 'user' | 'assistant';
  content: ConverseContentBlock[];
}

/** A cache point caches what precedes it, for five minutes or, with ttl 1h, for an hour. */
export interface CachePoint {
  cachePoint: { type: 'default'; ttl?: '5m' | '1h' };
}

export type ConverseSystemBlock = { text: string } | CachePoint;

export interface ConverseTool {
  toolSpec: { name: string; description?: string; inputSchema: { json: Record<string, unknown> } };
}

export type ConverseToolChoice = { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };

export interface ConverseRequest {
  messages: ConverseMessage[];
  system?: ConverseSystemBlock[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: { tools: ConverseTool[]; toolChoice?: ConverseToolChoice };
  outputConfig?: { textFormat: { type: 'json_schema'; structure: { jsonSchema: { schema: string; name?: string; description?: string } } } };
  /** The model's own fields: an Anthropic model's thinking and anthropic_beta flags. */
  additionalModelRequestFields?: { thinking?: Record<string, unknown>; anthropic_beta?: string[] };
}

export interface ConverseUsage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
  /** The cache writes by how long they are kept. */
  cacheDetails?: { ttl?: string; inputTokens?: number }[];
}

export interface ConverseResponse {
  output?: { message?: { role: 'assistant'; content?: ConverseContentBlock[] } };
  stopReason?: string;
  usage?: ConverseUsage;
  metrics?: { latencyMs?: number };
}

/** A cache point for a part marked for prompt caching, kept as long as the part asks. */
function cachePoint(control: NonNullable<TextPart['cache_control']>): CachePoint {
  return { cachePoint: { type: 'default', ...(control.ttl === '1h' || control.ttl === '5m' ? { ttl: control.ttl } : {}) } };
}

const IMAGE_FORMATS: Record<string, ImageFormat> = { png: 'png', jpeg: 'jpeg', jpg: 'jpeg', gif: 'gif', webp: 'webp' };

/** The Converse request body for a canonical chat request. */
export function toConverse(request: ChatRequest, provider: string): ConverseRequest {
  const bad = (message: string) => new ProviderError('bad_request', provider, message);
  if (request.n != null && request.n > 1) throw bad('Bedrock Converse returns one choice; n > 1 is not supported.');

  const toolConfig = toToolConfig(request);
  // Converse rejects toolUse/toolResult blocks when no toolConfig is sent (e.g. tool_choice 'none'),
  // so past tool turns are then replayed as plain text.
  const nativeTools = toolConfig !== undefined;
  const system: ConverseSystemBlock[] = [];
  const turns: ConverseMessage[] = [];
  const push = (role: ConverseMessage['role'], content: ConverseContentBlock[]) => {
    if (content.length === 0) return;
    const last = turns.at(-1);
    // Converse wants user and assistant turns to alternate; OpenAI allows runs of the same role.
    if (last?.role === role) last.content.push(...content);
    else turns.push({ role, content });
  };

  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textBlocks(message.content));
        break;
      case 'user':
        push('user', userBlocks(message.content, bad));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(message, nativeTools));
        break;
      case 'tool':
        push('user', [toolResultBlock(message, nativeTools)]);
        break;
      default:
        throw bad(`Unsupported message role ${String((message as { role: unknown }).role)}.`);
    }
  }

  const body: ConverseRequest = { messages: turns };
  const anthropic = isAnthropic(request.model);
  // reasoning_effort as an Anthropic model's thinking, unless the client set its own (docs/routing.md#reasoning-effort).
  const fromEffort = anthropic && !request.thinking ? anthropicThinkingFor(request, ANSWER_ROOM, bad) : undefined;
  const fields = anthropic ? anthropicFields(request, fromEffort?.budgetTokens) : undefined;
  if (fields) body.additionalModelRequestFields = fields;
  if (system.length > 0) body.system = system;
  const inference = inferenceConfig(request, fromEffort?.maxTokens);
  if (inference) body.inferenceConfig = inference;
  if (toolConfig) body.toolConfig = toolConfig;
  const format = request.response_format;
  // json_schema uses Converse's native structured output (outputConfig.textFormat); models without it
  // answer ValidationException, which surfaces as bad_request. json_object has no Converse
  // equivalent and is left to the prompt, as OpenAI itself requires the prompt to ask for JSON.
  if (format?.type === 'json_schema') {
    const { name, description, schema } = format.json_schema;
    body.outputConfig = {
      textFormat: { type: 'json_schema', structure: { jsonSchema: { schema: JSON.stringify(schema ?? { type: 'object' }), name, description } } },
    };
  }
  return body;
}

/** Tokens left for the answer above the thinking budget an effort asks for, as the Anthropic adapter's default max_tokens. */
const ANSWER_ROOM = 4096;

const isAnthropic = (model: string) => /(?:^|\.)anthropic\./.test(model);

/**
 * Bedrock takes an Anthropic model's thinking and beta flags in the body; other models get neither. Of the flags,
 * only interleaved thinking, which Bedrock documents for Claude (docs/routing.md#thinking).
 */
function anthropicFields(request: ChatRequest, effortBudget: number | undefined): ConverseRequest['additionalModelRequestFields'] {
  const thinking = request.thinking ?? (effortBudget ? { type: 'enabled', budget_tokens: effortBudget } : undefined);
  const betas = (request.anthropic_beta ?? []).filter((flag) => /^interleaved-thinking-\d{4}-\d{2}-\d{2}$/.test(flag));
  const fields = { ...(thinking ? { thinking } : {}), ...(betas.length > 0 ? { anthropic_beta: betas } : {}) };
  return Object.keys(fields).length > 0 ? fields : undefined;
}

function inferenceConfig(request: ChatRequest, thinkingMaxTokens: number | undefined): ConverseRequest['inferenceConfig'] {
  const config: NonNullable<ConverseRequest['inferenceConfig']> = {};
  const maxTokens = thinkingMaxTokens ?? request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) config.maxTokens = maxTokens;
  if (request.temperature != null) config.temperature = request.temperature;
  if (request.top_p != null) config.topP = request.top_p;
  if (request.stop != null) {
    const stops = typeof request.stop === 'string' ? [request.stop] : request.stop;
    if (stops.length > 0) config.stopSequences = stops;
  }
  return Object.keys(config).length > 0 ? config : undefined;
}

function toToolConfig(request: ChatRequest): ConverseRequest['toolConfig'] {
  const choice = request.tool_choice;
  // Converse's toolChoice has no "none": the tools are withheld instead.
  if (!request.tools?.length || choice === 'none') return undefined;
  const tools: ConverseTool[] = request.tools.map(({ function: fn }) => ({
    toolSpec: {
      name: fn.name,
      ...(fn.description ? { description: fn.description } : {}),
      inputSchema: { json: fn.parameters ?? { type: 'object', properties: {} } },
    },
  }));
  // 'auto' is Converse's default; it is left out because some models reject any toolChoice.
  if (choice === 'required') return { tools, toolChoice: { any: {} } };
  if (typeof choice === 'object') return { tools, toolChoice: { tool: { name: choice.function.name } } };
  return { tools };
}

/** Text blocks, with a cache point after each part marked for prompt caching. Empty text is dropped: Converse rejects blank blocks. */
function textBlocks(content: string | TextPart[] | null | undefined): ConverseSystemBlock[] {
  if (typeof content === 'string') return content ? [{ text: content }] : [];
  const blocks: ConverseSystemBlock[] = [];
  for (const part of content ?? []) {
    if (part.type !== 'text' || !part.text) continue;
    blocks.push({ text: part.text });
    if (part.cache_control) blocks.push(cachePoint(part.cache_control));
  }
  return blocks;
}

function userBlocks(content: string | ContentPart[], bad: (message: string) => ProviderError): ConverseContentBlock[] {
  if (typeof content === 'string') return content ? [{ text: content }] : [];
  const blocks: ConverseContentBlock[] = [];
  for (const part of content) {
    if (part.type === 'text') {
      blocks.push(...textBlocks([part as TextPart]));
    } else if (part.type === 'image_url') {
      const { url } = (part as { image_url: { url: string } }).image_url;
      blocks.push({ image: imageFromDataUrl(url, bad) });
    } else {
      throw bad(`Content part type ${part.type} is not supported by Bedrock Converse.`);
    }
  }
  return blocks;
}

/** Converse takes image bytes only (or S3 locations), never an http URL, so only data URLs can be sent. */
function imageFromDataUrl(url: string, bad: (message: string) => ProviderError): { format: ImageFormat; source: { bytes: string } } {
  const match = /^data:image\/([a-z0-9.+-]+)((?:;[^,]*)?),(.*)$/is.exec(url);
  if (!match) throw bad('Bedrock Converse accepts images only as base64 data URLs (data:image/png;base64,...), not http URLs.');
  const format = IMAGE_FORMATS[match[1]!.toLowerCase()];
  if (!format) throw bad(`Image type image/${match[1]} is not supported by Bedrock Converse (png, jpeg, gif, webp).`);
  const data = match[3]!;
  const bytes = /;base64/i.test(match[2]!) ? data : Buffer.from(decodeURIComponent(data), 'utf8').toString('base64');
  return { format, source: { bytes } };
}

function assistantBlocks(message: Extract<ChatMessage, { role: 'assistant' }>, nativeTools: boolean): ConverseContentBlock[] {
  // Signed thinking first and unchanged, as Anthropic models require it before the tool use it led to.
  const blocks: ConverseContentBlock[] = (message.thinking_blocks ?? []).map((block) => ({
    reasoningContent: block.type === 'thinking' ? { reasoningText: { text: block.thinking, signature: block.signature } } : { redactedContent: block.data },
  }));
  blocks.push(...textBlocks(message.content));
  for (const call of message.tool_calls ?? []) {
    if (nativeTools) blocks.push({ toolUse: { toolUseId: call.id, name: call.function.name, input: parseArguments(call.function.arguments) } });
    else blocks.push({ text: `[Called tool ${call.function.name} with ${call.function.arguments || '{}'}]` });
  }
  return blocks;
}

/** Tool arguments are a JSON string in OpenAI and an object in Converse; a model's malformed arguments are kept as a string. */
function parseArguments(text: string): unknown {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { arguments: text };
  }
}

/**
 * OpenAI tool messages carry no error flag, so `status` is left out: it only means
 * something to Claude (default success) and some other models reject the field.
 * A result that is a JSON object goes as a json block, anything else as text.
 */
function toolResultBlock(message: Extract<ChatMessage, { role: 'tool' }>, nativeTools: boolean): ConverseContentBlock {
  const text = contentText(message.content);
  if (!nativeTools) return { text: `[Result of tool call ${message.tool_call_id}: ${text}]` };
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  const isObject = typeof json === 'object' && json !== null && !Array.isArray(json);
  // Converse rejects an empty text block even inside a tool result.
  return { toolResult: { toolUseId: message.tool_call_id, content: [isObject ? { json } : { text: text || '(empty)' }] } };
}

export function finishReason(stopReason: string | undefined): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/**
 * OpenAI counts cached tokens inside prompt_tokens, Bedrock (like Anthropic) counts
 * them apart from inputTokens; total is recomputed so it always equals prompt + completion.
 * Cache writes by TTL come from cacheDetails, named as Anthropic names them. Bedrock
 * reports no reasoning count: thinking is inside outputTokens.
 */
export function usageFromConverse(usage: ConverseUsage | undefined): OpenAIUsage {
  const cacheRead = usage?.cacheReadInputTokens ?? 0;
  const cacheWrite = usage?.cacheWriteInputTokens ?? 0;
  const prompt = (usage?.inputTokens ?? 0) + cacheRead + cacheWrite;
  const completion = usage?.outputTokens ?? 0;
  const details = usage?.cacheDetails ?? [];
  const writtenFor = (ttl: string) => details.reduce((sum, detail) => sum + (detail.ttl === ttl ? (detail.inputTokens ?? 0) : 0), 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead },
    ...(cacheWrite > 0 ? { cache_creation_input_tokens: cacheWrite } : {}),
    ...(details.length > 0 ? { cache_creation: { ephemeral_5m_input_tokens: writtenFor('5m'), ephemeral_1h_input_tokens: writtenFor('1h') } } : {}),
  };
}

/** The canonical chat response for a Converse response. */
export function fromConverse(response: ConverseResponse, model: string): ChatResponse {
  let text = '';
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  for (const block of response.output?.message?.content ?? []) {
    if ('text' in block) text += block.text;
    else if ('reasoningContent' in block) thinking.push(thinkingBlock(block.reasoningContent));
    else if ('toolUse' in block) {
      const { toolUseId, name, input } = block.toolUse;
      toolCalls.push({ id: toolUseId, type: 'function', function: { name, arguments: JSON.stringify(input ?? {}) } });
    }
  }
  const reasoning = thinking.map((block) => (block.type === 'thinking' ? block.thinking : '')).join('');
  return {
    id: chatCompletionId(),
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text || (toolCalls.length > 0 ? null : ''),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          ...(thinking.length > 0 ? { reasoning_content: reasoning, thinking_blocks: thinking } : {}),
          refusal: null,
        },
        finish_reason: finishReason(response.stopReason),
        logprobs: null,
      },
    ],
    usage: usageFromConverse(response.usage),
  };
}

/** A Converse reasoning block as the thinking block it is. */
function thinkingBlock(content: ReasoningContent): ThinkingBlock {
  if ('redactedContent' in content) return { type: 'redacted_thinking', data: content.redactedContent };
  return { type: 'thinking', thinking: content.reasoningText?.text ?? '', signature: content.reasoningText?.signature ?? '' };
}
