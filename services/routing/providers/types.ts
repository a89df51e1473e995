import type { Usage } from '../../gen/gateway/v1/common.js';

/** An OpenAI chat completion request as routing forwards it (model already the provider's name). */
export interface ChatRequest {
  model: string;
  messages: unknown[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  n?: number;
  [field: string]: unknown;
}

export interface ProviderCall {
  request: ChatRequest;
  signal: AbortSignal;
}

export interface Completion {
  /** chat.completion JSON, OpenAI-shaped. */
  body: Buffer;
  usage: Usage;
}

/** One event of a stream: a chat.completion.chunk JSON, and the usage if this chunk carried it. */
export interface StreamPiece {
  data: string;
  usage?: Usage;
  /** True for the usage-only chunk OpenAI sends last when include_usage is on. */
  usageOnly: boolean;
}

export interface Provider {
  readonly name: string;
  /** Models to list in /v1/models, as the provider names them. */
  readonly models: readonly string[];
  complete(call: ProviderCall): Promise<Completion>;
  /** Resolves once the provider accepted the request, so errors before the first byte are thrown here. */
  stream(call: ProviderCall): Promise<AsyncIterable<StreamPiece>>;
  close(): Promise<void>;
}

export const EMPTY_USAGE: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedTokens: 0, reasoningTokens: 0 };

/** Reads an OpenAI `usage` object (tolerating absent fields) into the contract's Usage. */
export function usageFromOpenAI(raw: unknown): Usage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const u = raw as {
    prompt_tokens?: number;
    completion_tokens?: number;
    total_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
    completion_tokens_details?: { reasoning_tokens?: number } | null;
  };
  const prompt = u.prompt_tokens ?? 0;
  const completion = u.completion_tokens ?? 0;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: u.total_tokens ?? prompt + completion,
    cachedTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}
