import { z } from 'zod';
import { PROVIDER_TYPES } from './catalog.js';
import type { ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse } from '../canonical.js';
import type { SseEvent } from '../sse.js';
import { ServiceAccountTokens, type KeySource } from './gemini-auth.js';
import { SignatureCache, toGeminiRequest, type SchemaField } from './gemini-mapping.js';
import { fromGeminiResponse, toChunks, type GenerateContentResponse } from './gemini-response.js';
import { classifyStatus, networkError, Upstream, type ErrorClassifier } from './http.js';
import { LITERAL_SECRETS, type SecretLookup } from '../../kit/secrets/store.js';
import { credentialsOf, credentialSchema, providerBase } from './schema.js';
import {
  ProviderError,
  type CallCounts,
  type Capabilities,
  type Connection,
  type NativeAnswer,
  type NativeRequest,
  type ProviderAdapter,
  type ProviderCall,
} from './types.js';

/**
 * Google Gemini, on AI Studio (generativelanguage.googleapis.com, API key) or
 * Vertex AI (aiplatform.googleapis.com, service account). Both take the same
 * generateContent body (https://ai.google.dev/api/generate-content); they
 * differ in URL and authentication.
 */

const structuredOutput = z
  .enum(['responseJsonSchema', 'responseSchema'])
  .default('responseJsonSchema')
  .describe(
    'Field for json_schema response formats: responseJsonSchema takes JSON Schema as is; responseSchema (older models) takes an OpenAPI subset the gateway converts to.',
  );

export const geminiProviderConfig = z.strictObject({
  type: z.literal('gemini'),
  ...providerBase,
  ...credentialSchema,
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .default(PROVIDER_TYPES.gemini.baseUrl)
    .describe('Gemini API (AI Studio) base URL, without the version path.'),
  apiVersion: z
    .string()
    .regex(/^v\d+\w*$/)
    .default('v1beta')
    .describe('API version path segment (v1beta carries the newest features).'),
  structuredOutput,
});

export type GeminiProviderConfig = z.infer<typeof geminiProviderConfig>;

export const vertexProviderConfig = z
  .strictObject({
    type: z.literal('vertex'),
    ...providerBase,
    project: z.string().min(1).optional().describe("Google Cloud project ID; defaults to the service account key's project_id."),
    location: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('us-central1')
      .describe('Vertex AI region, e.g. us-central1, europe-west4, or global.'),
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('Defaults to https://{location}-aiplatform.googleapis.com (https://aiplatform.googleapis.com for global).'),
    apiVersion: z
      .string()
      .regex(/^v\d+\w*$/)
      .default('v1')
      .describe('Vertex AI API version path segment.'),
    serviceAccount: z.string().optional().describe('Service account key JSON (secret); use ${GOOGLE_APPLICATION_CREDENTIALS_JSON} substitution.'),
    serviceAccountFile: z
      .string()
      .optional()
      .describe('Path to a service account key file; re-read at every token refresh, so a rotated key needs no restart.'),
    structuredOutput,
  })
  .refine((c) => Boolean(c.serviceAccount) !== Boolean(c.serviceAccountFile), { message: 'Set one of serviceAccount and serviceAccountFile.' });

export type VertexProviderConfig = z.infer<typeof vertexProviderConfig>;

type Method = 'generateContent' | 'streamGenerateContent' | 'batchEmbedContents';

/** What differs between AI Studio and Vertex: where a model's methods live and how a call authenticates. */
interface Endpoint {
  path(model: string, method: Method): Promise<string>;
  headers(credential: number): Promise<Record<string, string>>;
  /** Called when the API answers 401, e.g. to drop a cached access token. */
  refused(): void;
  /** Fingerprint of credential i's current value, when keys can rotate. */
  stamp?(credential: number): string;
}

/** Chat over generateContent / streamGenerateContent, shared by both Gemini hosts. */
class GeminiChatAdapter implements ProviderAdapter {
  protected readonly upstream: Upstream;
  protected readonly classify: ErrorClassifier;
  private readonly signatures = new SignatureCache();

  constructor(
    readonly name: string,
    readonly type: 'gemini' | 'vertex',
    readonly capabilities: Capabilities,
    readonly models: readonly string[],
    readonly credentialCount: number,
    baseUrl: string,
    protected readonly endpoint: Endpoint,
    private readonly schemaField: SchemaField,
    connection: Connection,
    maxConnections: number | undefined,
  ) {
    this.classify = geminiErrorClassifier(name);
    this.upstream = new Upstream(name, baseUrl, connection, this.classify, maxConnections);
  }

  credentialStamp(credential: number): string {
    return this.endpoint.stamp?.(credential) ?? '';
  }

  async chat({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    const body = toGeminiRequest(request, this.mapping(request.model));
    const context = { provider: this.name, model: request.model, signatures: this.signatures };
    return this.call(async () =>
      this.upstream.json(
        { path: await this.endpoint.path(request.model, 'generateContent'), headers: await this.endpoint.headers(credential), body, signal },
        (response: GenerateContentResponse) => fromGeminiResponse(response, context),
      ),
    );
  }

  async chatStream({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    const body = toGeminiRequest(request, this.mapping(request.model));
    const context = { provider: this.name, model: request.model, signatures: this.signatures };
    const chunks = await this.call(async () =>
      this.upstream.sse(
        { path: `${await this.endpoint.path(request.model, 'streamGenerateContent')}?alt=sse`, headers: await this.endpoint.headers(credential), body, signal },
        (events) => toChunks(geminiEvents(events, this.name, this.classify), context),
      ),
    );
    // The first chunk decides whether the request was accepted: a blocked prompt fails here, where the router can still fall back.
    const rest = chunks[Symbol.asyncIterator]();
    return prepend(await rest.next(), rest);
  }

  private mapping(model: string) {
    return { provider: this.name, model, schemaField: this.schemaField, signatures: this.signatures };
  }

  protected async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof ProviderError && err.upstreamStatus === 401) this.endpoint.refused();
      throw err;
    }
  }

  callCounts(): CallCounts {
    return this.upstream.callCounts();
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

/** batchEmbedContents takes at most 100 requests. */
const EMBED_BATCH = 100;

/** AI Studio: chat plus embeddings, and its own API passed through. */
export class GeminiAdapter extends GeminiChatAdapter {
  /** Gemini's own API (type gemini only): the client's path (its version included) under the base URL, the key always the provider's; streams as SSE. */
  async native({ request, credential, signal }: ProviderCall<NativeRequest>): Promise<NativeAnswer> {
    const path = request.stream ? `${request.path}?alt=sse` : request.path;
    return this.call(async () => {
      const upstreamRequest = { path, headers: await this.endpoint.headers(credential), body: request.body, signal };
      if (request.stream) return { events: await this.upstream.sse(upstreamRequest, (events) => events) };
      return { whole: await this.upstream.raw(upstreamRequest) };
    });
  }

  async embeddings({ request, credential, signal }: ProviderCall<EmbeddingsRequest>): Promise<EmbeddingsResponse> {
    const inputs = typeof request.input === 'string' ? [request.input] : request.input;
    if (!inputs.every((input): input is string => typeof input === 'string')) {
      throw new ProviderError('bad_request', this.name, `Provider ${this.name} (Gemini) embeds text only, not token arrays.`);
    }
    const model = modelResource(request.model);
    const path = await this.endpoint.path(request.model, 'batchEmbedContents');
    const headers = await this.endpoint.headers(credential);
    const batches: string[][] = [];
    for (let i = 0; i < inputs.length; i += EMBED_BATCH) batches.push(inputs.slice(i, i + EMBED_BATCH));
    const answers = await Promise.all(
      batches.map((batch) => {
        const requests = batch.map((text) => ({
          model,
          content: { parts: [{ text }] },
          ...(request.dimensions ? { outputDimensionality: request.dimensions } : {}),
        }));
        return this.upstream.json({ path, headers, body: { requests }, signal }, (answer: { embeddings?: { values?: number[] }[] }) =>
          (answer.embeddings ?? []).map((embedding) => embedding.values ?? []),
        );
      }),
    );
    const vectors = answers.flat();
    if (vectors.length !== inputs.length)
      throw networkError(undefined, this.name, `Provider ${this.name} returned ${vectors.length} embeddings for ${inputs.length} inputs.`);
    // Gemini reports no token usage for embeddings: estimated at four characters per token, like the mock provider.
    const tokens = inputs.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
    return {
      object: 'list',
      data: vectors.map((vector, index) => ({ object: 'embedding', index, embedding: encode(vector, request.encoding_format) })),
      model: request.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }
}

/** OpenAI's base64 encoding: little-endian float32s. */
function encode(values: number[], format: EmbeddingsRequest['encoding_format']): number[] | string {
  return format === 'base64' ? Buffer.from(new Float32Array(values).buffer).toString('base64') : values;
}

/** `gemini-2.5-flash`, `models/gemini-2.5-flash` and `tunedModels/x` all name a model resource. */
function modelResource(model: string): string {
  return /^(models|tunedModels)\//.test(model) ? model : `models/${model}`;
}

/** Each segment encoded; "." and ".." are refused, since the provider's server would resolve them to another resource. */
function encodeResource(resource: string, provider: string): string {
  const segments = resource.split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    throw new ProviderError('bad_request', provider, `Provider ${provider}: a model name may not hold "." or ".." path segments.`);
  }
  return segments.map(encodeURIComponent).join('/');
}

export function createGeminiAdapter(name: string, config: GeminiProviderConfig, connection: Connection, secrets?: SecretLookup): GeminiAdapter {
  const keys = credentialsOf(config, secrets);
  const caps: Capabilities = PROVIDER_TYPES.gemini.capabilities;
  const endpoint: Endpoint = {
    path: async (model, method) => `/${config.apiVersion}/${encodeResource(modelResource(model), name)}:${method}`,
    headers: async (credential): Promise<Record<string, string>> => {
      const key = keys.at(credential);
      return key ? { 'x-goog-api-key': key } : {};
    },
    refused: () => {},
    stamp: (credential) => keys.stamp(credential),
  };
  return new GeminiAdapter(
    name,
    'gemini',
    caps,
    config.models,
    keys.size,
    config.baseUrl,
    endpoint,
    config.structuredOutput,
    connection,
    config.maxConnections,
  );
}

/** The URL an entry's adapter calls: its baseUrl, else its location's public Vertex AI endpoint. */
export function vertexBaseUrl(config: VertexProviderConfig): string {
  return config.baseUrl ?? (config.location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${config.location}-aiplatform.googleapis.com`);
}

/** Vertex AI: chat only (its embeddings API differs per model and is not mapped). */
export class VertexAdapter extends GeminiChatAdapter {
  constructor(
    name: string,
    config: VertexProviderConfig,
    connection: Connection,
    private readonly tokens: ServiceAccountTokens,
  ) {
    const caps: Capabilities = PROVIDER_TYPES.vertex.capabilities;
    const endpoint: Endpoint = {
      path: async (model, method) => {
        const project = config.project ?? (await tokens.projectId());
        if (!project) throw new ProviderError('bad_request', name, `Provider ${name}: set project, or use a service account key with a project_id.`);
        const parent = `projects/${encodeURIComponent(project)}/locations/${encodeURIComponent(config.location)}`;
        // A full resource name (tuned model endpoints, other publishers) is used as given.
        const resource = model.startsWith('projects/')
          ? model
          : /^(publishers|endpoints)\//.test(model)
            ? `${parent}/${model}`
            : `${parent}/publishers/google/models/${model}`;
        return `/${config.apiVersion}/${encodeResource(resource, name)}:${method}`;
      },
      headers: async () => ({ authorization: `Bearer ${await tokens.token()}` }),
      refused: () => tokens.invalidate(),
    };
    super(name, 'vertex', caps, config.models, 1, vertexBaseUrl(config), endpoint, config.structuredOutput, connection, config.maxConnections);
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.tokens.close()]);
  }
}

export function createVertexAdapter(
  name: string,
  config: VertexProviderConfig,
  connection: Connection,
  secrets: SecretLookup = LITERAL_SECRETS,
): VertexAdapter {
  const source: KeySource = config.serviceAccountFile ? { file: config.serviceAccountFile } : { json: secrets.get(config.serviceAccount ?? '') };
  return new VertexAdapter(name, config, connection, new ServiceAccountTokens(name, source, connection));
}

interface GoogleErrorBody {
  code?: number;
  message?: string;
  status?: string;
  details?: { '@type'?: string; reason?: string; retryDelay?: string }[];
}

/**
 * Google's error body ({"error": {"code", "message", "status", "details"}}, as
 * in https://ai.google.dev/gemini-api/docs/troubleshooting) classified by
 * status like other providers, plus what only Google says: a bad API key is a
 * 400 with reason API_KEY_INVALID, and a 429's wait is in a RetryInfo detail.
 */
export function geminiErrorClassifier(provider: string): ErrorClassifier {
  return (status, body, headers) => {
    let error: GoogleErrorBody = {};
    try {
      const parsed = JSON.parse(body) as { error?: GoogleErrorBody } | { error?: GoogleErrorBody }[];
      error = (Array.isArray(parsed) ? parsed[0]?.error : parsed.error) ?? {};
    } catch {
      error = {};
    }
    const details = Array.isArray(error.details) ? error.details : [];
    const reason = details.find((d) => typeof d.reason === 'string')?.reason;
    if (reason === 'API_KEY_INVALID' || /API key (not valid|expired)/i.test(error.message ?? '')) {
      return new ProviderError(
        'auth',
        provider,
        `Provider ${provider} refused the gateway's credentials (HTTP ${status}); an admin must fix the provider key.`,
        { upstreamStatus: status },
      );
    }
    const retryDelay = details.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'))?.retryDelay;
    const wait = headers['retry-after'] === undefined && retryDelay ? { ...headers, 'retry-after': retryDelay.replace(/s$/, '') } : headers;
    return classifyStatus(provider, status, { message: error.message ?? '', code: reason ?? error.status, type: error.status }, wait);
  };
}

/** Each SSE data is a GenerateContentResponse; an error object mid-stream is classified like an error response. */
async function* geminiEvents(events: AsyncIterable<SseEvent>, provider: string, classify: ErrorClassifier): AsyncGenerator<GenerateContentResponse> {
  for await (const { data } of events) {
    let parsed: GenerateContentResponse & { error?: GoogleErrorBody };
    try {
      parsed = JSON.parse(data) as typeof parsed;
    } catch (err) {
      throw networkError(err, provider, `Provider ${provider} sent a stream event that is not JSON.`);
    }
    if (parsed.error) throw classify(typeof parsed.error.code === 'number' ? parsed.error.code : 500, data, {});
    yield parsed;
  }
}

async function* prepend<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    for (let next = first; !next.done; next = await rest.next()) yield next.value;
  } finally {
    await rest.return?.();
  }
}
