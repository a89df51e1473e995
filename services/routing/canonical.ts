/**
 * The OpenAI Chat Completions shape, used inside routing as the one language
 * between inbound APIs (formats/) and provider adapters (providers/). Only the
 * fields routing reads or writes are typed; everything else passes through.
 * Reference: https://platform.openai.com/docs/api-reference/chat
 */

export interface TextPart {
  type: 'text';
  text: string;
  /** Anthropic prompt-caching marker, carried through for adapters that understand it. */
  cache_control?: { type: 'ephemeral'; ttl?: string };
}

export interface ImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export type ContentPart = TextPart | ImagePart | { type: string; [field: string]: unknown };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * A signed thinking block of an Anthropic model, as LiteLLM names them on chat completions (`thinking_blocks`): an
 * OpenAI-shaped client sends them back on the assistant message, and Anthropic requires them, unchanged, before the
 * tool results of a turn that thought. In a streamed delta, a thinking entry carries only the signature that ends its
 * block (`thinking` is ""); its text came as `reasoning_content`.
 */
export type ThinkingBlock = { type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string };

/** Anthropic's extended thinking switch, carried on chat as LiteLLM takes it (docs/routing.md#thinking). */
export type ThinkingConfig = { type: 'enabled'; budget_tokens: number; [field: string]: unknown } | { type: 'adaptive' | 'disabled'; [field: string]: unknown };

export type ChatMessage =
  | { role: 'system' | 'developer'; content: string | TextPart[]; name?: string }
  | { role: 'user'; content: string | ContentPart[]; name?: string }
  | {
      role: 'assistant';
      content?: string | TextPart[] | null;
      tool_calls?: ToolCall[];
      refusal?: string | null;
      name?: string;
      thinking_blocks?: ThinkingBlock[];
    }
  | { role: 'tool'; content: string | TextPart[]; tool_call_id: string };

export interface FunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null } };

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ResponseFormat;
  temperature?: number | null;
  top_p?: number | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  user?: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  reasoning_effort?: string | null;
  /** Anthropic-only (docs/routing.md#thinking): sent to Anthropic providers, translated or left out for others. */
  thinking?: ThinkingConfig | null;
  /** Anthropic's output_config without its `format` (which is response_format here), e.g. { effort }. */
  output_config?: Record<string, unknown> | null;
  context_management?: Record<string, unknown> | null;
  /** The client's anthropic-beta flags (RoutingHints.anthropic_beta), sent on to Anthropic providers where allowed. */
  anthropic_beta?: string[];
  [field: string]: unknown;
}

/** The fields of a chat request only Anthropic's API takes: left out for every other provider. */
export const ANTHROPIC_ONLY_FIELDS = ['thinking', 'output_config', 'context_management', 'anthropic_beta'] as const;

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** cache_write_tokens: OpenRouter's count of prompt tokens written to the prompt cache. */
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number; [field: string]: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: number; [field: string]: unknown } | null;
  /** Anthropic and Bedrock (named as Anthropic names them): prompt tokens written to the prompt cache, priced apart. */
  cache_creation_input_tokens?: number;
  /** Anthropic and Bedrock: those writes by how long they are cached; an hour costs more than five minutes. */
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number };
  /** DeepSeek's name for cached_tokens. */
  prompt_cache_hit_tokens?: number;
}

export interface ChatChoice {
  index: number;
  /** reasoning_content: reasoning a model wrote aloud, as DeepSeek names it (compatible.ts answers other names as it). */
  message: {
    role: 'assistant';
    content: string | null;
    tool_calls?: ToolCall[];
    refusal?: string | null;
    reasoning_content?: string | null;
    thinking_blocks?: ThinkingBlock[];
  };
  finish_reason: FinishReason | null;
  logprobs: unknown;
}

export interface ChatResponse {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatChoice[];
  usage?: OpenAIUsage;
  system_fingerprint?: string | null;
  [field: string]: unknown;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChunkChoice {
  index: number;
  delta: {
    role?: 'assistant';
    content?: string | null;
    tool_calls?: ToolCallDelta[];
    refusal?: string | null;
    reasoning_content?: string | null;
    thinking_blocks?: ThinkingBlock[];
  };
  finish_reason: FinishReason | null;
  logprobs?: unknown;
}

export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChunkChoice[];
  usage?: OpenAIUsage | null;
  system_fingerprint?: string | null;
  [field: string]: unknown;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Text of string-or-parts content. */
export function contentText(content: string | readonly { type: string; text?: unknown }[] | null | undefined): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

export function chatCompletionId(): string {
  return `chatcmpl-${globalThis.crypto.randomUUID().replace(/-/g, '')}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
