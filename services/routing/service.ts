import type {
  ListAdminEntriesRequest,
  ListAdminEntriesResponse,
  PutAdminEntryRequest,
  PutAdminEntryResponse,
  RemoveAdminEntryRequest,
  RemoveAdminEntryResponse,
  StorageEntriesRequest,
} from '../gen/gateway/v1/admin_entries.js';
import type { StoredAnswer, Usage } from '../gen/gateway/v1/common.js';
import type {
  CompletionChunk,
  CompletionRequest,
  CompletionResponse,
  DeploymentHealthRequest,
  DeploymentHealthResponse,
  ListModelsRequest,
  ListModelsResponse,
  PassthroughProviderRequest,
  PassthroughProviderResponse,
  ResolveModelsRequest,
  ResolveModelsResponse,
  RoutingService,
  StoredResponseReply,
  StoredResponseRequest,
  FilesRequest,
  BatchesRequest,
  BatchWorkRequest,
  BatchWorkReply,
  StoredReply,
} from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import type { Api, CallOptions } from '../kit/grpc.js';
import { callForAnswer, callForEmbeddings, openStream, refusal } from './calls.js';
import { capOutputTokens } from './output-cap.js';
import { passthroughProvider, passthroughStream, passthroughWhole } from './passthrough.js';
import { deploymentHealth } from './deployment-health.js';
import { DIRECT_ENDPOINTS } from './direct.js';
import { DIRECT_STREAMS } from './direct-streams.js';
import { streamErrorEvent } from '../kit/api-errors.js';
import { chatFromNative, decodeAnswer, encodeAnswer, replayChunks } from './answers.js';
import type { ChatResponse, EmbeddingsRequest, EmbeddingsResponse } from './canonical.js';
import { chatFormat, invalid, requireModel, requireObject } from './formats/chat.js';
import { completionsFormat } from './formats/completions.js';
import { messagesFormat } from './formats/messages.js';
import { responsesFormat } from './formats/responses.js';
import type { InboundFormat, OutEvent, Translation } from './formats/types.js';
import { relay, streamEnd } from './stream-chunks.js';
import type { RequestGuard, RoutingGuardrails } from './guardrails.js';
import { NEVER_ABORTED, usageFromOpenAI, type Timeouts } from './providers/types.js';
import type { AdminEntryStore } from './admin-entries.js';
import type { LiveRouting } from './live.js';
import type { McpHub } from './mcp/hub.js';
import type {
  CallToolRequest,
  CallToolResponse,
  CompleteMcpAuthorizationRequest,
  CompleteMcpAuthorizationResponse,
  ListMcpServersRequest,
  ListMcpServersResponse,
  ListToolsRequest,
  ListToolsResponse,
  StartMcpAuthorizationRequest,
  StartMcpAuthorizationResponse,
} from '../gen/gateway/v1/mcp.js';
import type { ResponseCache } from './response-cache.js';
import { keptStream, type ResponsesState } from './responses-state.js';
import { NativeResponses, servedNatively } from './responses-native.js';
import type { FileStore } from './files.js';
import type { BatchStore } from './batches.js';
import type { Routed, Router } from './router/router.js';

const FORMATS: Record<string, InboundFormat> = Object.fromEntries(
  [chatFormat, completionsFormat, responsesFormat, messagesFormat].map((format) => [format.endpoint, format]),
);

function parseBody(body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('invalid_json', 'Request body is not valid JSON.');
  }
  return requireObject(parsed);
}

function formatFor(endpoint: string): InboundFormat {
  const format = FORMATS[endpoint];
  if (!format) throw new GatewayError('not_found', `Routing does not serve the endpoint \`${endpoint}\`.`);
  return format;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const EMPTY = Buffer.alloc(0);

/** The chat completion of a stored answer, or a clear error when the cache holds something else under the key. */
function chatOf(stored: StoredAnswer): ChatResponse {
  const answer = decodeAnswer(stored.answer);
  if (!('chat' in answer)) throw new GatewayError('internal_error', 'The cached answer is not a chat completion.');
  return answer.chat;
}

/** An answer rendered from a stored one: no provider was called. */
const fromCache = (stored: StoredAnswer, body: Buffer) => ({ body, usage: stored.usage, served: stored.served, attempts: [], answer: EMPTY });

function embeddingsOf(stored: StoredAnswer): EmbeddingsResponse {
  const answer = decodeAnswer(stored.answer);
  if (!('embeddings' in answer)) throw new GatewayError('internal_error', 'The cached answer is not an embeddings list.');
  return answer.embeddings;
}

/** Renders a provider's answer; one refused on its way out (a guardrail blocked it) still carries what the provider was paid. */
function paidFor<T>(render: () => T, usage: Usage, routed: Routed<unknown>): T {
  try {
    return render();
  } catch (err) {
    if (err instanceof GatewayError) {
      err.paid = { usage, served: routed.deployment.served };
      err.attempts = routed.attempts;
    }
    throw err;
  }
}

/** The routing service: inbound API → chat → router → provider, and back. */
export class Routing implements Api<typeof RoutingService> {
  constructor(
    private readonly live: LiveRouting,
    private readonly timeouts: Timeouts,
    private readonly mcp: McpHub,
    private readonly cache: ResponseCache,
    private readonly guardrails: RoutingGuardrails,
    private readonly adminEntries: AdminEntryStore,
    private readonly responses: ResponsesState,
    private readonly fileStore: FileStore,
    private readonly batchStore: BatchStore,
  ) {
    this.native = new NativeResponses(responses);
  }

  /** The Responses API's requests OpenAI serves natively (web search). */
  private readonly native: NativeResponses;

  private get router(): Router {
    return this.live.router;
  }

  async complete(request: CompletionRequest, options: CallOptions = {}): Promise<CompletionResponse> {
    const guard = this.guardrails.begin(request.context);
    try {
      return { contentType: '', ...(await this.answer(request, guard, options.signal ?? NEVER_ABORTED)), guardrails: guard.settle() };
    } catch (err) {
      throw guard.failed(err);
    }
  }

  async *completeStream(request: CompletionRequest, options: CallOptions = {}): AsyncGenerator<CompletionChunk> {
    const guard = this.guardrails.begin(request.context);
    try {
      for await (const chunk of this.stream(request, guard, options.signal ?? NEVER_ABORTED)) {
        yield chunk.kind?.$case === 'end' ? { kind: { $case: 'end', end: { ...chunk.kind.end, guardrails: guard.settle() } } } : chunk;
      }
    } catch (err) {
      throw guard.failed(err);
    }
  }

  /** A whole answer: the request checked by the guardrails, then from the cache or a provider. */
  private async answer(
    request: CompletionRequest,
    guard: RequestGuard,
    signal: AbortSignal,
  ): Promise<Omit<CompletionResponse, 'guardrails' | 'contentType'> & { contentType?: string }> {
    const body = parseBody(request.body);
    if (request.passthrough) {
      guard.passthrough();
      return passthroughWhole(this.router, request.passthrough, body, request.hints, signal);
    }
    if (request.endpoint === 'responses' && servedNatively(this.router, body)) return this.native.whole(this.router, request, body, guard, signal);
    const direct = DIRECT_ENDPOINTS[request.endpoint];
    if (direct) {
      const routed = await direct(this.router, await guard.direct(request.endpoint, body), request.hints, signal, request.uploads);
      const { attempts, queuedMs, raw } = routed;
      const answer = raw ? { body: raw.bytes, contentType: raw.contentType } : { body: json(routed.value) };
      return { ...answer, usage: routed.usage, served: routed.deployment.served, attempts, queuedMs, answer: EMPTY, cache: undefined };
    }
    if (request.endpoint === 'embeddings') {
      const embeddings = await guard.embeddings(validateEmbeddings(body));
      const cached = await this.cache.lookup(request.endpoint, body, request.context, guard.cache(request.cache));
      if (cached?.hit) return { ...fromCache(cached.hit, json(embeddingsOf(cached.hit))), cache: cached.outcome };
      const routed = await this.router.route(embeddings.model, request.hints, signal, (target) => callForEmbeddings(embeddings, target));
      const usage = routed.value.usage;
      const result = {
        body: json(routed.value),
        usage: usageFromOpenAI({ prompt_tokens: usage?.prompt_tokens ?? 0, completion_tokens: 0, total_tokens: usage?.total_tokens ?? 0 }),
        served: routed.deployment.served,
        attempts: routed.attempts,
        queuedMs: routed.queuedMs,
      };
      const answer = request.keepAnswer || cached?.storesAnswer ? encodeAnswer({ embeddings: routed.value }) : EMPTY;
      cached?.store(answer, result.usage, result.served);
      return { ...result, answer: request.keepAnswer ? answer : EMPTY, cache: cached?.outcome };
    }
    const resolved = await this.resolve(request, body, guard);
    const translation = await this.translate(request, resolved, guard);
    const keep = this.keeper(request, resolved, translation);
    const cached = await this.cache.lookup(request.endpoint, resolved, request.context, guard.cache(request.cache));
    if (cached?.hit) {
      const response = translation.response(chatOf(cached.hit));
      await keep?.(response as Record<string, unknown>);
      return { ...fromCache(cached.hit, json(response)), cache: cached.outcome };
    }
    const routed = await this.router.route(
      translation.chat.model,
      request.hints,
      signal,
      (target) => callForAnswer(translation, target),
      (answer, deployment) => refusal(answer, deployment.provider.name),
    );
    const reply = routed.value;
    const usage = usageFromOpenAI(reply.kind === 'chat' ? reply.response.usage : (reply.body.usage as Parameters<typeof usageFromOpenAI>[0]));
    const clientBody = reply.kind === 'chat' ? paidFor(() => translation.response(reply.response), usage, routed) : reply.body;
    await keep?.(clientBody as Record<string, unknown>);
    const answer =
      request.keepAnswer || cached?.storesAnswer ? encodeAnswer({ chat: reply.kind === 'chat' ? reply.response : chatFromNative(reply.body) }) : EMPTY;
    cached?.store(answer, usage, routed.deployment.served);
    return {
      body: json(clientBody),
      usage,
      served: routed.deployment.served,
      attempts: routed.attempts,
      answer: request.keepAnswer ? answer : EMPTY,
      cache: cached?.outcome,
      queuedMs: routed.queuedMs,
    };
  }

  /** A streamed answer: the request checked by the guardrails, then replayed from the cache or streamed from a provider. */
  private async *stream(request: CompletionRequest, guard: RequestGuard, signal: AbortSignal): AsyncGenerator<CompletionChunk> {
    if (request.passthrough) {
      guard.passthrough();
      return yield* passthroughStream(this.router, request.passthrough, parseBody(request.body), request.hints, signal);
    }
    const direct = DIRECT_STREAMS[request.endpoint];
    if (direct) {
      const body = await guard.direct(request.endpoint, parseBody(request.body));
      const routed = await direct(this.router, body, request.hints, signal, request.uploads, this.timeouts);
      const upstreamMs = routed.attempts.reduce((sum, attempt) => sum + attempt.durationMs, 0);
      yield { kind: { $case: 'start', start: { served: routed.deployment.served, upstreamMs, cache: undefined, queuedMs: routed.queuedMs } } };
      const { events, usage } = routed.value;
      const errorEvent = (error: GatewayError) => streamErrorEvent(request.endpoint, error);
      if (yield* relay(errorEvent, events, usage, routed.attempts)) yield streamEnd(usage(), routed.attempts);
      return;
    }
    const format = formatFor(request.endpoint);
    const body = parseBody(request.body);
    if (request.endpoint === 'responses' && servedNatively(this.router, body)) return yield* this.native.stream(this.router, request, body, guard, signal);
    const resolved = await this.resolve(request, body, guard);
    const translation = await this.translate(request, resolved, guard);
    const keep = this.keeper(request, resolved, translation);
    const kept = (events: AsyncIterable<OutEvent>) => (keep ? keptStream(events, keep) : events);
    const cached = await this.cache.lookup(request.endpoint, resolved, request.context, guard.cache(request.cache));
    const stored = request.replay ?? cached?.hit;
    if (stored) {
      yield { kind: { $case: 'start', start: { served: stored.served, upstreamMs: 0, cache: cached?.outcome } } };
      if (yield* relay(format.errorEvent, kept(translation.stream(replayChunks(chatOf(stored)))), () => stored.usage, [])) yield streamEnd(stored.usage, []);
      return;
    }
    const routed = await this.router.route(translation.chat.model, request.hints, signal, (target) => openStream(translation, target, this.timeouts));
    const upstreamMs = routed.attempts.reduce((sum, attempt) => sum + attempt.durationMs, 0);
    yield { kind: { $case: 'start', start: { served: routed.deployment.served, upstreamMs, cache: cached?.outcome, queuedMs: routed.queuedMs } } };
    const stream = routed.value;
    const usage = () => usageFromOpenAI(stream.usage());
    if (!(yield* relay(format.errorEvent, kept(stream.events), usage, routed.attempts))) return;
    // As the provider sent it: a hit goes through the answer rules of its own caller as it is rendered.
    const whole = cached?.storesAnswer ? stream.answer() : undefined;
    if (whole) cached!.store(encodeAnswer({ chat: whole }), usage(), routed.deployment.served);
    yield streamEnd(usage(), routed.attempts);
  }

  /** The request in the canonical shape, with its output capped and the guardrails' redactions made. */
  private async translate(request: CompletionRequest, body: Record<string, unknown>, guard: RequestGuard): Promise<Translation> {
    const translation = formatFor(request.endpoint).parse(body);
    capOutputTokens(translation, request.hints?.maxOutputTokens ?? 0);
    if (request.hints?.anthropicBeta.length) translation.chat.anthropic_beta = request.hints.anthropicBeta;
    // The guarded translation renders answers through the policies; the conversation it stores is of its redacted messages.
    const guarded = await guard.chat(translation);
    const kept = guarded === translation || !translation.conversation ? guarded : { ...guarded, conversation: translation.conversation };
    return guard.keepsContent ? kept : { ...kept, contentWithheld: true };
  }

  /**
   * A Responses API body with its stored conversation before it (previous_response_id) and `store` as honoured: off
   * too for a caller whose storage policies do not keep prompts and answers as they came.
   */
  private resolve(request: CompletionRequest, body: Record<string, unknown>, guard: RequestGuard): Promise<Record<string, unknown>> | Record<string, unknown> {
    return request.endpoint === 'responses' ? this.responses.resolve(body, request.context, guard.keepsContent) : body;
  }

  private keeper(request: CompletionRequest, body: Record<string, unknown>, translation: Translation) {
    const { conversation } = translation;
    if (request.endpoint !== 'responses' || !conversation) return undefined;
    return this.responses.keeper(body, () => conversation(translation.chat.messages), request.context);
  }

  async storedResponse(request: StoredResponseRequest): Promise<StoredResponseReply> {
    return this.responses.stored(request);
  }

  async files(request: FilesRequest): Promise<StoredReply> {
    return this.fileStore.handle(request);
  }

  async batches(request: BatchesRequest): Promise<StoredReply> {
    return this.batchStore.handle(request);
  }

  async batchWork(request: BatchWorkRequest): Promise<BatchWorkReply> {
    return this.batchStore.work(request);
  }

  async passthroughProvider(request: PassthroughProviderRequest): Promise<PassthroughProviderResponse> {
    return { provider: passthroughProvider(this.router.catalog.allProviders(), request.api, request.provider).name };
  }

  async listTools(request: ListToolsRequest): Promise<ListToolsResponse> {
    return { tools: this.mcp.tools(request.includeUnapproved) };
  }

  async callTool(request: CallToolRequest, options: CallOptions = {}): Promise<CallToolResponse> {
    return this.mcp.call(request, options.signal);
  }

  async listMcpServers(_request: ListMcpServersRequest): Promise<ListMcpServersResponse> {
    return { servers: this.mcp.servers() };
  }

  async startMcpAuthorization(request: StartMcpAuthorizationRequest): Promise<StartMcpAuthorizationResponse> {
    return { authorizationUrl: await this.mcp.startAuthorization(request.server) };
  }

  async completeMcpAuthorization(request: CompleteMcpAuthorizationRequest): Promise<CompleteMcpAuthorizationResponse> {
    return { server: await this.mcp.completeAuthorization(request.state, request.code) };
  }

  async resolveModels(_request: ResolveModelsRequest): Promise<ResolveModelsResponse> {
    return { models: [...this.router.catalog.configuredTargets()].map(([name, targets]) => ({ name, targets })) };
  }

  async deploymentHealth(_request: DeploymentHealthRequest): Promise<DeploymentHealthResponse> {
    return deploymentHealth(this.router.catalog);
  }

  async listModels(_request: ListModelsRequest): Promise<ListModelsResponse> {
    return { models: this.router.catalog.listModels() };
  }

  async listAdminEntries(request: ListAdminEntriesRequest): Promise<ListAdminEntriesResponse> {
    return this.adminEntries.list(request);
  }

  async storageEntries(_request: StorageEntriesRequest): Promise<ListAdminEntriesResponse> {
    return this.adminEntries.storage();
  }

  async putAdminEntry(request: PutAdminEntryRequest): Promise<PutAdminEntryResponse> {
    return this.adminEntries.put(request);
  }

  async removeAdminEntry(request: RemoveAdminEntryRequest): Promise<RemoveAdminEntryResponse> {
    return this.adminEntries.remove(request);
  }
}

function validateEmbeddings(body: Record<string, unknown>): EmbeddingsRequest {
  const model = requireModel(body);
  const input = body.input;
  const valid =
    typeof input === 'string' ||
    (Array.isArray(input) &&
      input.length > 0 &&
      (input.every((i) => typeof i === 'string') || input.every((i) => typeof i === 'number') || input.every((i) => Array.isArray(i))));
  if (!valid) throw invalid("Invalid 'input': expected a string, an array of strings, or token arrays.", 'input');
  return { ...(body as unknown as EmbeddingsRequest), model };
}
