import { z } from 'zod';
import { PROVIDER_TYPES } from './catalog.js';
import type { ChatChunk, ChatRequest, ChatResponse } from '../canonical.js';
import { fromAnthropicMessage, toAnthropicRequest, toChatChunks } from './anthropic-mapping.js';
import type { ErrorBody, Message } from './anthropic-wire.js';
import { classifyStatus, MalformedAnswer, Upstream, type ErrorClassifier } from './http.js';
import type { SecretLookup } from '../../kit/secrets/store.js';
import { credentialsOf, credentialSchema, KeyedAdapter, providerBase } from './schema.js';
import { NEVER_ABORTED, type CallCounts, type Connection, type NativeAnswer, type NativeRequest, type ProviderAdapter, type ProviderCall } from './types.js';
import { anthropicBatchApi } from './anthropic-batches.js';
import type { BatchApi } from './batch-api.js';

export const anthropicProviderConfig = z.strictObject({
  type: z.literal('anthropic'),
  ...providerBase,
  ...credentialSchema,
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .default(PROVIDER_TYPES.anthropic.baseUrl)
    .describe("Base URL without the /v1 path; the default is Anthropic's public API."),
  version: z.string().min(1).default('2023-06-01').describe('The anthropic-version header sent with every request.'),
  defaultMaxTokens: z
    .number()
    .int()
    .positive()
    .default(4096)
    .describe('max_tokens sent when the request sets neither max_tokens nor max_completion_tokens (Anthropic requires it).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra headers sent with every request (e.g. anthropic-beta).'),
});

export type AnthropicProviderConfig = z.infer<typeof anthropicProviderConfig>;

/** Anthropic's Messages API behind the OpenAI chat shape; see anthropic-mapping.ts for the translation. */
class AnthropicAdapter extends KeyedAdapter implements ProviderAdapter {
  readonly type = 'anthropic';
  readonly capabilities = PROVIDER_TYPES.anthropic.capabilities;
  readonly models: readonly string[];
  private readonly upstream: Upstream;

  constructor(
    readonly name: string,
    private readonly config: AnthropicProviderConfig,
    connection: Connection,
    secrets?: SecretLookup,
  ) {
    super(credentialsOf(config, secrets));
    this.models = config.models;
    this.upstream = new Upstream(name, config.baseUrl, connection, anthropicErrorClassifier(name), config.maxConnections);
    this.batches = anthropicBatchApi(name, config.defaultMaxTokens, (method, path, body) =>
      this.upstream.raw({ path, method, headers: this.headers(0), body, signal: NEVER_ABORTED }),
    );
  }

  readonly batches: BatchApi;

  /**
   * The configured headers, with the client's allowed anthropic-beta flags added to any configured ones; a
   * passthrough's own headers (already limited to those the API reads) over them; the provider's key over everything.
   */
  private headers(credential: number, clientBetas: readonly string[] = [], passthrough: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...this.config.headers, 'anthropic-version': this.config.version };
    const configured = Object.entries(headers).find(([name]) => name.toLowerCase() === 'anthropic-beta');
    const betas = [...new Set([...(configured?.[1].split(',').map((flag) => flag.trim()) ?? []), ...clientBetas.filter(allowedBeta)])].filter(Boolean);
    if (configured) delete headers[configured[0]];
    if (betas.length > 0) headers['anthropic-beta'] = betas.join(',');
    return { ...headers, ...passthrough, ...this.keyHeaders(credential, (key) => ({ 'x-api-key': key })) };
  }

  async chat({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    const body = toAnthropicRequest(request, this.name, this.config.defaultMaxTokens);
    const headers = this.headers(credential, request.anthropic_beta);
    return this.upstream.json({ path: '/v1/messages', headers, body, signal }, (message: Message) => fromAnthropicMessage(message));
  }

  async chatStream({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    const body = { ...toAnthropicRequest(request, this.name, this.config.defaultMaxTokens), stream: true };
    const headers = this.headers(credential, request.anthropic_beta);
    return this.upstream.sse({ path: '/v1/messages', headers, body, signal }, (events) => toChatChunks(events, this.name));
  }

  /** The body is the client's own Messages request (the gateway's count_tokens speaks Anthropic's API), model renamed. */
  async countTokens({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<{ input_tokens: number }> {
    return this.upstream.json({ path: '/v1/messages/count_tokens', headers: this.headers(credential), body: request, signal }, tokenCount);
  }

  /** Anthropic's own API: the client's anthropic-version and anthropic-beta over the configured ones, the key always the provider's. */
  async native({ request, credential, signal }: ProviderCall<NativeRequest>): Promise<NativeAnswer> {
    const upstreamRequest = { path: request.path, headers: this.headers(credential, [], request.headers), body: request.body, signal };
    if (request.stream) return { events: await this.upstream.sse(upstreamRequest, (events) => events) };
    return { whole: await this.upstream.raw(upstreamRequest) };
  }

  callCounts(): CallCounts {
    return this.upstream.callCounts();
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

/**
 * The anthropic-beta flags a client may pass on (any dated version): those whose answers the gateway translates,
 * meters and prices as it does without them. Others are dropped: betas for server tools, files, MCP or code
 * execution answer in blocks the chat shape has no place for, and context-1m is priced higher past 200k tokens.
 */
const ALLOWED_BETAS =
  /^(?:interleaved-thinking|context-management|effort|fine-grained-tool-streaming|token-efficient-tools|output-128k|extended-cache-ttl)-\d{4}-\d{2}-\d{2}$/;

export function allowedBeta(flag: string): boolean {
  return ALLOWED_BETAS.test(flag);
}

function tokenCount(body: unknown): { input_tokens: number } {
  const count = (body as { input_tokens?: unknown } | null)?.input_tokens;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) throw new MalformedAnswer('input_tokens is not a whole number');
  return { input_tokens: count };
}

/**
 * Reads Anthropic's error body ({"type":"error","error":{"type","message"}}).
 * Anthropic says "input length and `max_tokens` exceed context limit" for a
 * too-long request, which the generic patterns miss, so it is marked here.
 */
export function anthropicErrorClassifier(provider: string): ErrorClassifier {
  return (status, body, headers) => {
    let detail: { message: string; code?: string; type?: string } = { message: '' };
    try {
      const parsed = JSON.parse(body) as Partial<ErrorBody>;
      if (parsed.error && typeof parsed.error === 'object') detail = { message: String(parsed.error.message ?? ''), type: parsed.error.type };
    } catch {
      // Not JSON (e.g. a proxy's HTML page): classified by status alone.
    }
    if (status === 400 && /context limit|prompt is too long/i.test(detail.message)) detail.code = 'context_length_exceeded';
    return classifyStatus(provider, status, detail, headers);
  };
}

export function createAnthropicAdapter(name: string, config: AnthropicProviderConfig, connection: Connection, secrets?: SecretLookup): ProviderAdapter {
  return new AnthropicAdapter(name, config, connection, secrets);
}
