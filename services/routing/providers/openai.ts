import { FormData } from 'undici';
import { openAIBatchApi, type BatchApi } from './batch-api.js';
import { z } from 'zod';
import type { ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse } from '../canonical.js';
import { PROVIDER_TYPES } from './catalog.js';
import { answerFrom, chunksFrom, quirksOf, requestFor } from './compatible.js';
import { MalformedAnswer, Upstream, networkError } from './http.js';
import { rerankAnswer } from './rerank.js';
import { chatChunk, chatCompletion, embeddingsList, imagesList, moderationList, textCompletion } from './openai-shape.js';
import type { Upload } from '../../gen/gateway/v1/routing.js';
import type { SecretLookup } from '../../kit/secrets/store.js';
import type { SseEvent } from '../sse.js';
import { credentialsOf, credentialSchema, KeyedAdapter, providerBase, type KeyRing } from './schema.js';
import {
  NEVER_ABORTED,
  type CallCounts,
  type Capabilities,
  type Connection,
  type NativeAnswer,
  type NativeRequest,
  type ProviderAdapter,
  type ProviderCall,
  type RawAnswer,
} from './types.js';

/** Providers that speak the OpenAI API: a base URL and what the provider supports. */
export const OPENAI_PRESETS = ['openai', 'mistral', 'groq', 'deepseek', 'xai', 'openrouter', 'together', 'fireworks', 'ollama', 'vllm'] as const;

export type OpenAIPreset = (typeof OPENAI_PRESETS)[number];

export const openAIProviderConfig = (type: OpenAIPreset) =>
  z.strictObject({
    type: z.literal(type),
    ...providerBase,
    ...credentialSchema,
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .default(PROVIDER_TYPES[type].baseUrl)
      .describe("Base URL including the version path; the default is the provider's public API."),
    headers: z.record(z.string(), z.string()).default({}).describe("Extra headers sent with every request (e.g. OpenRouter's HTTP-Referer)."),
  });

export type OpenAIProviderConfig = z.infer<ReturnType<typeof openAIProviderConfig>>;

export const azureProviderConfig = z.strictObject({
  type: z.literal('azure'),
  ...providerBase,
  ...credentialSchema,
  endpoint: z.url({ protocol: /^https?$/ }).describe('Resource endpoint, e.g. https://my-resource.openai.azure.com.'),
  apiVersion: z.string().default('2024-10-21').describe('Azure OpenAI api-version query parameter.'),
  deployments: z.record(z.string(), z.string()).default({}).describe('Model name → Azure deployment name; a model not listed is used as the deployment name.'),
});

export type AzureProviderConfig = z.infer<typeof azureProviderConfig>;

type ApiPath =
  | 'chat/completions'
  | 'completions'
  | 'embeddings'
  | 'moderations'
  | 'images/generations'
  | 'images/edits'
  | 'images/variations'
  | 'rerank'
  | 'audio/speech'
  | 'audio/transcriptions'
  | 'audio/translations';

interface Endpoints {
  path(kind: ApiPath, model: string): string;
  auth(key: string): Record<string, string>;
  /**
   * Whether a chat's output cap goes as max_completion_tokens: OpenAI's own
   * API and Azure deprecate max_tokens, and their reasoning models refuse it;
   * other OpenAI-compatible servers know max_tokens.
   */
  completionTokensParam: boolean;
  /** Where a provider-native request's path (OpenAI's, e.g. /v1/responses) is under this provider's base URL. */
  nativePath(path: string): string;
  /** The model name a native body carries: Azure's deployment name. */
  nativeModel(model: string): string;
}

/** Chat, completions and embeddings against an OpenAI-shaped API, with usage always requested on streams. */
export class OpenAICompatibleAdapter extends KeyedAdapter implements ProviderAdapter {
  private readonly upstream: Upstream;

  constructor(
    readonly name: string,
    readonly type: string,
    readonly capabilities: Capabilities,
    readonly models: readonly string[],
    baseUrl: string,
    keys: KeyRing,
    private readonly endpoints: Endpoints,
    private readonly extraHeaders: Record<string, string>,
    connection: Connection,
    maxConnections: number | undefined,
  ) {
    super(keys);
    this.upstream = new Upstream(name, baseUrl, connection, undefined, maxConnections);
    // OpenAI's own API only: other OpenAI-compatible servers (Azure's included) have no batch API of this shape.
    this.batches =
      type === 'openai'
        ? openAIBatchApi(name, (method, path, body) =>
            this.upstream.raw({ path: path.replace(/^\/v1(?=\/)/, ''), method, headers: this.headers(0), body, signal: NEVER_ABORTED }),
          )
        : undefined;
  }

  readonly batches: BatchApi | undefined;

  private headers(credential: number): Record<string, string> {
    return { ...this.extraHeaders, ...this.keyHeaders(credential, this.endpoints.auth) };
  }

  /** The chat request as this provider takes it (compatible.ts: what it refuses or names otherwise). */
  private wire(request: ChatRequest): ChatRequest {
    const wire = requestFor(this.type, this.name, request);
    if (!this.endpoints.completionTokensParam || typeof wire.max_tokens !== 'number' || typeof wire.max_completion_tokens === 'number') return wire;
    const { max_tokens, ...rest } = wire;
    return { ...rest, max_completion_tokens: max_tokens };
  }

  async chat({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    const body = { ...this.wire(request), stream: false, stream_options: undefined };
    return this.upstream.json({ path: this.endpoints.path('chat/completions', request.model), headers: this.headers(credential), body, signal }, (answer) =>
      answerFrom(this.type, chatCompletion(answer)),
    );
  }

  async chatStream({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    // Usage is always asked for, where the provider takes the option; some refuse it and send usage anyway.
    const streamOptions = quirksOf(this.type).noStreamOptions ? undefined : { ...request.stream_options, include_usage: true };
    const body = { ...this.wire(request), stream: true, stream_options: streamOptions };
    const upstreamRequest = { path: this.endpoints.path('chat/completions', request.model), headers: this.headers(credential), body, signal };
    return this.upstream.sse(upstreamRequest, (events) => chunksFrom(this.type, jsonEvents(events, this.name, chatChunk)));
  }

  embeddings({ request, credential, signal }: ProviderCall<EmbeddingsRequest>): Promise<EmbeddingsResponse> {
    return this.upstream.json(
      { path: this.endpoints.path('embeddings', request.model), headers: this.headers(credential), body: request, signal },
      embeddingsList,
    );
  }

  completions({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>> {
    const body = { ...request, stream: false };
    return this.upstream.json(
      { path: this.endpoints.path('completions', String(request.model)), headers: this.headers(credential), body, signal },
      textCompletion,
    );
  }

  moderations({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>> {
    return this.upstream.json(
      { path: this.endpoints.path('moderations', String(request.model)), headers: this.headers(credential), body: request, signal },
      moderationList,
    );
  }

  images({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>> {
    return this.upstream.json(
      { path: this.endpoints.path('images/generations', String(request.model)), headers: this.headers(credential), body: request, signal },
      imagesList,
    );
  }

  speech({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<RawAnswer> {
    return this.upstream.raw({ path: this.endpoints.path('audio/speech', String(request.model)), headers: this.headers(credential), body: request, signal });
  }

  transcribe({ request, credential, signal, uploads, api }: Parameters<NonNullable<ProviderAdapter['transcribe']>>[0]): Promise<RawAnswer> {
    const body = formOf(request, uploads);
    return this.upstream.raw({ path: this.endpoints.path(`audio/${api}`, String(request.model)), headers: this.headers(credential), body, signal });
  }

  audioEvents({ request, credential, signal, uploads, api }: Parameters<NonNullable<ProviderAdapter['audioEvents']>>[0]): Promise<AsyncIterable<SseEvent>> {
    const body = api === 'speech' ? request : formOf(request, uploads);
    return this.upstream.sse(
      { path: this.endpoints.path(`audio/${api}`, String(request.model)), headers: this.headers(credential), body, signal },
      (events) => events,
    );
  }

  imageUpload({ request, credential, signal, uploads, api }: Parameters<NonNullable<ProviderAdapter['imageUpload']>>[0]): Promise<Record<string, unknown>> {
    const body = formOf(request, uploads);
    return this.upstream.json(
      { path: this.endpoints.path(`images/${api}`, String(request.model)), headers: this.headers(credential), body, signal },
      imagesList,
    );
  }

  /** vLLM's /rerank (Jina's shape), where capabilities.rerank; answered in Cohere's shape as the gateway's /v1/rerank is. */
  rerank({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<Record<string, unknown>> {
    return this.upstream.json(
      { path: this.endpoints.path('rerank', String(request.model)), headers: this.headers(credential), body: request, signal },
      (body: unknown) => rerankAnswer(body, request.documents),
    );
  }

  async completionsStream({ request, credential, signal }: ProviderCall<Record<string, unknown>>): Promise<AsyncIterable<Record<string, unknown>>> {
    const body = { ...request, stream: true, stream_options: { include_usage: true } };
    const upstreamRequest = { path: this.endpoints.path('completions', String(request.model)), headers: this.headers(credential), body, signal };
    return this.upstream.sse(upstreamRequest, (events) => jsonEvents(events, this.name, textCompletion));
  }

  /** OpenAI's own API (type openai: under the base URL, which ends in /v1), or Azure's v1 API with the deployment as the model. */
  async native({ request, credential, signal }: ProviderCall<NativeRequest>): Promise<NativeAnswer> {
    const model = request.body.model;
    const upstreamRequest = {
      path: this.endpoints.nativePath(request.path),
      headers: { ...request.headers, ...this.headers(credential) },
      body: typeof model === 'string' ? { ...request.body, model: this.endpoints.nativeModel(model) } : request.body,
      signal,
    };
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
 * Parses each SSE data payload as JSON until `[DONE]`, and reads it with
 * `read`. An error object in the stream, or a stream that ends with neither
 * `[DONE]` nor a finish reason, is a ProviderError: a truncated answer must
 * not pass as a whole one. Chunks with nothing for the client (Azure's
 * prompt-filter preamble) are dropped.
 */
async function* jsonEvents<T>(events: AsyncIterable<{ data: string }>, provider: string, read: (chunk: Record<string, unknown>) => T): AsyncGenerator<T> {
  let finished = false;
  for await (const { data } of events) {
    if (data === '[DONE]') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch (err) {
      throw networkError(err, provider, `Provider ${provider} sent a stream event that is not JSON.`);
    }
    if (typeof parsed !== 'object' || parsed === null) throw new MalformedAnswer('a stream event is not an object');
    const event = parsed as { error?: { message?: string }; choices?: { finish_reason?: string | null }[]; usage?: unknown };
    if (event.error) throw networkError(undefined, provider, `Provider ${provider} failed mid-stream: ${event.error.message ?? 'unknown error'}`);
    const chunk = read(event);
    if (event.choices?.some((c) => c.finish_reason)) finished = true;
    if (event.choices?.length === 0 && !event.usage) continue;
    yield chunk;
  }
  if (!finished) throw networkError(undefined, provider, `Provider ${provider} ended the stream before the answer was complete.`);
}

/**
 * A multipart form as OpenAI's SDK sends it: each field as text (lists as repeated `name[]`), then each file in the
 * field the client sent it in (`image[]` for one of several), with its name and type.
 */
function formOf(fields: Record<string, unknown>, uploads: Upload[]): FormData {
  const form = new FormData();
  for (const [field, value] of Object.entries(fields)) {
    if (Array.isArray(value)) for (const item of value) form.append(`${field}[]`, String(item));
    else if (value !== undefined && value !== null) form.append(field, String(value));
  }
  for (const upload of uploads) {
    form.append(
      upload.field,
      new Blob([upload.data], { type: upload.contentType || 'application/octet-stream' }),
      upload.filename || upload.field.replace(/\[\]$/, ''),
    );
  }
  return form;
}

/** Whether a base URL is OpenAI's own API, which takes a chat's output cap as max_completion_tokens. */
export function completionTokensParam(baseUrl: string): boolean {
  return new URL(baseUrl).hostname === 'api.openai.com';
}

export function createOpenAIAdapter(name: string, config: OpenAIProviderConfig, connection: Connection, secrets?: SecretLookup): OpenAICompatibleAdapter {
  return new OpenAICompatibleAdapter(
    name,
    config.type,
    PROVIDER_TYPES[config.type].capabilities,
    config.models,
    config.baseUrl,
    credentialsOf(config, secrets),
    {
      path: (kind) => `/${kind}`,
      auth: (key) => ({ authorization: `Bearer ${key}` }),
      completionTokensParam: completionTokensParam(config.baseUrl),
      nativePath: (path) => path.replace(/^\/v1(?=\/)/, ''),
      nativeModel: (model) => model,
    },
    config.headers,
    connection,
    config.maxConnections,
  );
}

export function createAzureAdapter(name: string, config: AzureProviderConfig, connection: Connection, secrets?: SecretLookup): OpenAICompatibleAdapter {
  const query = `api-version=${encodeURIComponent(config.apiVersion)}`;
  return new OpenAICompatibleAdapter(
    name,
    'azure',
    PROVIDER_TYPES.azure.capabilities,
    config.models,
    config.endpoint,
    credentialsOf(config, secrets),
    {
      path: (kind, model) => `/openai/deployments/${encodeURIComponent(config.deployments[model] ?? model)}/${kind}?${query}`,
      auth: (key) => ({ 'api-key': key }),
      completionTokensParam: true,
      // Azure's v1 API (/openai/v1/..., no api-version), where the Responses API is served and a deployment is the model.
      nativePath: (path) => `/openai${path}`,
      nativeModel: (model) => config.deployments[model] ?? model,
    },
    {},
    connection,
    config.maxConnections,
  );
}
