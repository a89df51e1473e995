import { z } from 'zod';
import { PROVIDER_TYPES } from './catalog.js';
import type { ChatChunk, ChatRequest, ChatResponse } from '../canonical.js';
import { fromAnthropicMessage, toAnthropicRequest, toChatChunks } from './anthropic-mapping.js';
import type { ErrorBody, Message } from './anthropic-wire.js';
import { classifyStatus, MalformedAnswer, Upstream, type ErrorClassifier } from './http.js';
import type { SecretLookup } from '../../kit/secrets/store.js';
import { credentialsOf, credentialSchema, KeyedAdapter, providerBase } from './schema.js';
import type { CallCounts, Connection, NativeAnswer, NativeRequest, ProviderAdapter, ProviderCall } from './types.js';

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
  }

  /** The configured headers, the client's own (passthrough) over them, and the provider's key over everything. */
  private headers(credential: number, client: Record<string, string> = {}): Record<string, string> {
    return { ...this.config.headers, 'anthropic-version': this.config.version, ...client, ...this.keyHeaders(credential, (key) => ({ 'x-api-key': key })) };
  }

  async chat({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    const body = toAnthropicRequest(request, this.name, this.config.defaultMaxTokens);
    return this.upstream.json({ path: '/v1/messages', headers: this.headers(credential), body, signal }, (message: Message) => fromAnthropicMessage(message));
  }

  async chatStream({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    const body = { ...toAnthropicRequest(request, this.name, this.config.defaultMaxTokens), stream: true };
    return this.upstream.sse({ path: '/v1/messages', headers: this.headers(credential), body, signal }, (events) => toChatChunks(events, this.name));
  }

  /** The body is the client's own Messages request (the gateway's count_tokens speaks Anthropic's API), model renamed. */
  async countTokens({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<{ input_tokens: number }> {
    return this.upstream.json({ path: '/v1/messages/count_tokens', headers: this.headers(credential), body: request, signal }, tokenCount);
  }

  /** Anthropic's own API: the client's anthropic-version and anthropic-beta over the configured ones, the key always the provider's. */
  async native({ request, credential, signal }: ProviderCall<NativeRequest>): Promise<NativeAnswer> {
    const upstreamRequest = { path: request.path, headers: this.headers(credential, request.headers), body: request.body, signal };
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
