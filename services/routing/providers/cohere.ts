import { z } from 'zod';
import { PROVIDER_TYPES } from './catalog.js';
import type { ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse } from '../canonical.js';
import { chatRequestToCohere, chunksFromCohere, responseFromCohere, type CohereChatResponse, type CohereEmbedResponse } from './cohere-mapping.js';
import { classifyStatus, clip, Upstream, type ErrorClassifier } from './http.js';
import { rerankAnswer } from './rerank.js';
import type { SecretLookup } from '../../kit/secrets/store.js';
import { credentialsOf, credentialSchema, KeyedAdapter, providerBase } from './schema.js';
import { ProviderError, retryAfterMs, type CallCounts, type Capabilities, type Connection, type ProviderAdapter, type ProviderCall } from './types.js';

export const cohereProviderConfig = z.strictObject({
  type: z.literal('cohere'),
  ...providerBase,
  ...credentialSchema,
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .default(PROVIDER_TYPES.cohere.baseUrl)
    .describe("Base URL without the version path (the adapter calls /v2/chat and /v2/embed); the default is Cohere's public API."),
});

export type CohereProviderConfig = z.infer<typeof cohereProviderConfig>;

/** Cohere's /v2/embed takes at most 96 texts per call; larger inputs are split. */
const EMBED_BATCH = 96;

// Cohere words these its own way ("too many tokens: …", "blocked output: …"); hints for classifyStatus.
const CONTEXT_WINDOW = /too many tokens|exceeds the (?:model'?s )?context|context length/i;
const CONTENT_POLICY = /blocked (?:input|output)|usage (?:guidelines|policy)|toxic/i;

/**
 * Cohere's error body is `{"id"?: string, "message": string}`. Statuses that
 * classifyStatus does not know are mapped here: 498 (invalid token) is a
 * credential problem, and 499 (cancelled or a broken stream on Cohere's side,
 * documented as retryable) is treated as a server failure.
 */
export function cohereErrorClassifier(provider: string): ErrorClassifier {
  return (status, body, headers) => {
    let message = '';
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      message = '';
    }
    const options = { upstreamStatus: status, retryAfterMs: retryAfterMs(headers) };
    if (status === 498) {
      return new ProviderError(
        'auth',
        provider,
        `Provider ${provider} refused the gateway's credentials (HTTP 498); an admin must fix the provider key.`,
        options,
      );
    }
    if (status === 499) {
      return new ProviderError('server', provider, `Provider ${provider} failed (HTTP 499)${message ? `: ${clip(message)}` : ''}`, options);
    }
    const code = CONTEXT_WINDOW.test(message) ? 'context_length_exceeded' : CONTENT_POLICY.test(message) ? 'content_policy' : undefined;
    return classifyStatus(provider, status, { message, code }, headers);
  };
}

/** Cohere's native API v2: chat (streaming, tools, vision, JSON mode) and embeddings, in the OpenAI shape; rerank in its own. */
export class CohereAdapter extends KeyedAdapter implements ProviderAdapter {
  readonly type = 'cohere';
  readonly capabilities: Capabilities = PROVIDER_TYPES.cohere.capabilities;
  readonly models: readonly string[];
  private readonly upstream: Upstream;

  constructor(
    readonly name: string,
    config: CohereProviderConfig,
    connection: Connection,
    secrets?: SecretLookup,
  ) {
    super(credentialsOf(config, secrets));
    this.models = config.models;
    this.upstream = new Upstream(name, config.baseUrl, connection, cohereErrorClassifier(name), config.maxConnections);
  }

  private headers(credential: number): Record<string, string> {
    return { accept: 'application/json', ...this.keyHeaders(credential, (key) => ({ authorization: `Bearer ${key}` })) };
  }

  async chat({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    const body = chatRequestToCohere(request, false, this.name);
    return this.upstream.json({ path: '/v2/chat', headers: this.headers(credential), body, signal }, (response: CohereChatResponse) =>
      responseFromCohere(response, request.model),
    );
  }

  async chatStream({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    const body = chatRequestToCohere(request, true, this.name);
    return this.upstream.sse({ path: '/v2/chat', headers: this.headers(credential), body, signal }, (events) =>
      chunksFromCohere(events, request.model, this.name),
    );
  }

  async embeddings({ request, credential, signal }: ProviderCall<EmbeddingsRequest>): Promise<EmbeddingsResponse> {
    const input = typeof request.input === 'string' ? [request.input] : request.input;
    if (!input.every((item): item is string => typeof item === 'string')) {
      throw new ProviderError('bad_request', this.name, `Provider ${this.name} cannot take this request: Cohere embeds text, not token arrays.`);
    }
    const batches: string[][] = [];
    for (let start = 0; start < input.length; start += EMBED_BATCH) batches.push(input.slice(start, start + EMBED_BATCH));
    const responses = await Promise.all(
      batches.map((texts) =>
        this.upstream.json(
          {
            path: '/v2/embed',
            headers: this.headers(credential),
            body: {
              model: request.model,
              texts,
              // OpenAI's API has no input type; embeddings stored for search are the common case.
              input_type: 'search_document',
              embedding_types: ['float'],
              ...(request.dimensions ? { output_dimension: request.dimensions } : {}),
            },
            signal,
          },
          (response: CohereEmbedResponse) => ({ vectors: response.embeddings.float ?? [], tokens: response.meta?.billed_units?.input_tokens ?? 0 }),
        ),
      ),
    );
    const vectors = responses.flatMap((response) => response.vectors);
    if (vectors.length !== input.length) {
      throw new ProviderError('server', this.name, `Provider ${this.name} returned ${vectors.length} embeddings for ${input.length} inputs.`);
    }
    const tokens = responses.reduce((sum, response) => sum + response.tokens, 0);
    return {
      object: 'list',
      data: vectors.map((vector, index) => ({
        object: 'embedding',
        index,
        // OpenAI's base64 encoding is the little-endian float32 bytes of the vector.
        embedding: request.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
      })),
      model: request.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }

  rerank({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>> {
    return this.upstream.json({ path: '/v2/rerank', headers: this.headers(credential), body: request, signal }, (body: unknown) =>
      rerankAnswer(body, request.documents),
    );
  }

  callCounts(): CallCounts {
    return this.upstream.callCounts();
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

export function createCohereAdapter(name: string, config: CohereProviderConfig, connection: Connection, secrets?: SecretLookup): ProviderAdapter {
  return new CohereAdapter(name, config, connection, secrets);
}
