import type { LookupFunction } from 'node:net';
import type { BatchApi } from './batch-api.js';
import { Usage } from '../../gen/gateway/v1/common.js';
import type { Upload } from '../../gen/gateway/v1/routing.js';
import { GatewayError } from '../../kit/errors.js';
import type { SseEvent } from '../sse.js';
import type { ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, OpenAIUsage } from '../canonical.js';

/** What a provider can do; the README's provider table is made of these. */
export interface Capabilities {
  streaming: boolean;
  tools: boolean;
  vision: boolean;
  embeddings: boolean;
  jsonSchema: boolean;
  /** Serves the legacy /v1/completions API natively (others get it converted to chat). */
  completions: boolean;
  /** Serves OpenAI's /v1/moderations (no translation: only providers with OpenAI's own shape). */
  moderations: boolean;
  /** Serves OpenAI's /v1/images/generations, /edits and /variations (no translation, as moderations). */
  images: boolean;
  /** Serves reranking (Cohere's /v2/rerank, or the Jina-shaped /rerank of vLLM), answered in Cohere's shape. */
  rerank: boolean;
  /** Serves OpenAI's /v1/audio/speech, /v1/audio/transcriptions and /v1/audio/translations (no translation, as images). */
  audio: boolean;
}

export interface Timeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
  totalMs: number;
}

/** How an adapter connects to its provider: the timeouts, and for a provider an admin added, the address check. */
export interface Connection extends Timeouts {
  /** Resolves host names for new connections (see AdminProviderPolicy.lookup); Node's dns.lookup when absent. */
  readonly lookup?: LookupFunction;
}

/** The signal of a call no client can cancel (an in-process unary call): never aborts, so nothing listens to it. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

export interface ProviderCall<Req> {
  /** The request in OpenAI shape, `model` already the provider's model name. */
  request: Req;
  /** Which of the provider's credentials to use (0-based). */
  credential: number;
  signal: AbortSignal;
}

/**
 * One configured provider. Adapters translate the OpenAI shape to the
 * provider's wire format and back, and classify its errors as ProviderError so
 * the router can decide between retrying, rotating credentials and falling back.
 */
export interface ProviderAdapter {
  readonly name: string;
  readonly type: string;
  readonly capabilities: Capabilities;
  /** Number of credentials to rotate through on 401, 402 and 429. */
  readonly credentialCount: number;
  /**
   * A fingerprint of credential i's current value. A credential left out after
   * a refusal is tried again as soon as its value changes (rotated in its
   * secret store). Adapters whose credentials never change need not have it.
   */
  credentialStamp?(credential: number): string;
  /** Models to list in /v1/models, as the provider names them. */
  readonly models: readonly string[];
  chat(call: ProviderCall<ChatRequest>): Promise<ChatResponse>;
  /** Resolves once the provider accepted the request; errors before that are thrown here. */
  chatStream(call: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>>;
  embeddings?(call: ProviderCall<EmbeddingsRequest>): Promise<EmbeddingsResponse>;
  /** Native /v1/completions, request and response passed through as JSON. */
  completions?(call: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>>;
  completionsStream?(call: ProviderCall<Record<string, unknown>>): Promise<AsyncIterable<Record<string, unknown>>>;
  /** OpenAI's /v1/moderations, request and response passed through as JSON; called only where capabilities.moderations. */
  moderations?(call: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>>;
  /** OpenAI's /v1/images/generations, request and response passed through as JSON; called only where capabilities.images. */
  images?(call: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>>;
  /** Reranks documents for a query (body in Cohere's shape, model renamed), answered in Cohere's shape (providers/rerank.ts). */
  rerank?(call: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>>;
  /** OpenAI's /v1/audio/speech: JSON in, the provider's audio bytes out as it sent them; called only where capabilities.audio. */
  speech?(call: ProviderCall<Record<string, unknown>>): Promise<RawAnswer>;
  /** OpenAI's /v1/audio/transcriptions or /v1/audio/translations: the form's fields and the file sent as multipart, the answer as sent. */
  transcribe?(call: ProviderCall<Record<string, unknown>> & { uploads: Upload[]; api: 'transcriptions' | 'translations' }): Promise<RawAnswer>;
  /**
   * OpenAI's /v1/audio/speech with stream_format "sse", or /v1/audio/transcriptions with stream: the provider's events
   * as they arrive, unread; resolves once the provider accepted the request.
   */
  audioEvents?(call: ProviderCall<Record<string, unknown>> & { uploads: Upload[]; api: 'speech' | 'transcriptions' }): Promise<AsyncIterable<SseEvent>>;
  /** OpenAI's /v1/images/edits or /v1/images/variations: the form's fields and files sent as multipart, the answer as generations'. */
  imageUpload?(call: ProviderCall<Record<string, unknown>> & { uploads: Upload[]; api: 'edits' | 'variations' }): Promise<Record<string, unknown>>;
  /** The provider's own prompt count (Anthropic's /v1/messages/count_tokens), for a body in the Messages API; others are counted locally. */
  countTokens?(call: ProviderCall<Record<string, unknown>>): Promise<{ input_tokens: number }>;
  /**
   * A provider-native request passed through (routing/passthrough.ts): the body as the client wrote it, to the API's
   * own path, with the adapter's credentials and headers; the answer as the provider sent it. Only adapters of the
   * types kit/passthrough.ts lists for an API are called with it.
   */
  native?(call: ProviderCall<NativeRequest>): Promise<NativeAnswer>;
  /** The provider's own batch API, where routing speaks it (OpenAI's, Anthropic's), for batches handed to the provider. */
  readonly batches?: BatchApi;
  /** Calls to the provider now: sent, and waiting for a connection (only under a maxConnections cap). */
  callCounts?(): CallCounts;
  close(): Promise<void>;
}

/** A provider-native request: the provider API's own path (e.g. /v1/messages), the client headers allowed on, the body. */
export interface NativeRequest {
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  stream: boolean;
}

/** A provider-native answer: whole, or its server-sent events as they arrive. */
export type NativeAnswer = { whole: RawAnswer } | { events: AsyncIterable<SseEvent> };

/** An answer passed to the client as the provider sent it: its bytes and media type. */
export interface RawAnswer {
  bytes: Buffer;
  contentType: string;
}

export interface CallCounts {
  running: number;
  queued: number;
}

/**
 * Why a provider call failed, which decides what the router does next:
 * - rate_limit, auth, payment: try another credential of the same provider;
 * - server, network, timeout: retry with backoff, then the next deployment;
 * - context_window, content_policy: fall back to the configured larger or other model;
 * - bad_request: the client's request is at fault; returned as is.
 */
export type FailureKind = 'rate_limit' | 'auth' | 'payment' | 'server' | 'network' | 'timeout' | 'context_window' | 'content_policy' | 'bad_request';

export class ProviderError extends GatewayError {
  constructor(
    readonly kind: FailureKind,
    readonly provider: string,
    message: string,
    options: { upstreamStatus?: number; retryAfterMs?: number; cause?: unknown; detail?: string } = {},
  ) {
    super(codeFor(kind), message, { status: statusFor(kind, options.upstreamStatus), cause: options.cause, detail: options.detail });
    this.upstreamStatus = options.upstreamStatus;
    this.retryAfterMs = options.retryAfterMs;
  }

  readonly upstreamStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
}

function codeFor(kind: FailureKind) {
  switch (kind) {
    case 'rate_limit':
      return 'rate_limit_exceeded' as const;
    case 'timeout':
      return 'upstream_timeout' as const;
    case 'network':
      return 'upstream_unreachable' as const;
    case 'context_window':
      return 'context_length_exceeded' as const;
    case 'content_policy':
      return 'content_policy_violation' as const;
    default:
      return 'upstream_error' as const;
  }
}

/** The status the client sees: provider 4xx that are the client's fault pass through; the gateway's own problems are 502. */
function statusFor(kind: FailureKind, upstream: number | undefined): number {
  switch (kind) {
    case 'bad_request':
      return upstream && upstream >= 400 && upstream < 500 ? upstream : 400;
    case 'context_window':
    case 'content_policy':
      return 400;
    case 'rate_limit':
      return 429;
    case 'timeout':
      return 504;
    default:
      return 502;
  }
}

/** Reads a Retry-After header (seconds or HTTP date) or OpenAI's retry-after-ms. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const ms = headers['retry-after-ms'];
  if (typeof ms === 'string' && Number.isFinite(Number(ms))) return Number(ms);
  const value = headers['retry-after'];
  if (typeof value !== 'string') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

export const EMPTY_USAGE: Usage = Usage.fromPartial({});

/**
 * A token count as the contract and the ledger hold it (uint64, BIGINT): a whole number from 0 up. A provider's
 * fraction, negative or non-number would otherwise fail every encoding of the events that carry it.
 */
function tokens(value: unknown): number {
  return typeof value === 'number' && value > 0 ? Math.min(Math.round(value), Number.MAX_SAFE_INTEGER) : 0;
}

/**
 * The contract's Usage (common.proto) from an OpenAI usage object, as
 * OpenAI-compatible servers write it too:
 * - cache reads in prompt_tokens_details.cached_tokens, or DeepSeek's prompt_cache_hit_tokens;
 * - cache writes in cache_creation_input_tokens (the Anthropic and Bedrock adapters), or OpenRouter's
 *   prompt_tokens_details.cache_write_tokens, of them for an hour cache_creation.ephemeral_1h_input_tokens;
 * - reasoning inside completion_tokens, as OpenAI counts it, unless total_tokens shows the server counted
 *   it apart (xAI: total = prompt + completion + reasoning): then it is added to the completion.
 */
export function usageFromOpenAI(raw: OpenAIUsage | null | undefined): Usage {
  if (!raw) return EMPTY_USAGE;
  const prompt = tokens(raw.prompt_tokens);
  const reported = tokens(raw.completion_tokens);
  const reasoning = tokens(raw.completion_tokens_details?.reasoning_tokens);
  const total = typeof raw.total_tokens === 'number' ? tokens(raw.total_tokens) : undefined;
  const completion = reasoning > 0 && total === prompt + reported + reasoning ? tokens(reported + reasoning) : reported;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: total ?? prompt + completion,
    cachedTokens: Math.max(tokens(raw.prompt_tokens_details?.cached_tokens), tokens(raw.prompt_cache_hit_tokens)),
    reasoningTokens: reasoning,
    cacheWriteTokens: Math.max(tokens(raw.cache_creation_input_tokens), tokens(raw.prompt_tokens_details?.cache_write_tokens)),
    cacheWrite1hTokens: tokens(raw.cache_creation?.ephemeral_1h_input_tokens),
    billed: undefined,
  };
}
