import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Attempt, BilledUnits, RequestContext, Served } from '../gen/gateway/v1/common.js';
import type { AuthorizeResponse } from '../gen/gateway/v1/governance.js';
import type { IngressStoragePolicies } from './storage-policies.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { matchesAny } from '../kit/glob.js';
import { presentedKey } from '../kit/http.js';
import { newTraceId } from '../kit/ids.js';
import { traceIdOf } from '../kit/tracing.js';
import type { Logger } from '../kit/log.js';
import { hashSecret } from '../kit/secrets/keys.js';
import type { ClientsOf } from '../kit/service.js';

/** The services ingress calls (its dependsOn). */
export type IngressClients = ClientsOf<'governance' | 'routing'>;
import type { EventPublisher } from '../kit/bus/publisher.js';
import { EventType, requestEvent } from '../kit/events.js';
import type { Authorizations, Settlements } from './admission.js';
import type { SandboxPool } from './code-mode/pool.js';
import type { AgentConfig, CodeModeConfig } from './config.js';
import type { Holder } from './holder.js';
import type { BatchLineKeys } from './batch-runner.js';
import type { Outcome, OutcomeRecorder } from './outcome.js';
import { requestTags } from './tags.js';
import { measurePrompt, type PromptCounting, type PromptMeasure } from '../kit/prompt-size.js';

export interface PipelineDeps {
  clients: IngressClients;
  recorder: OutcomeRecorder;
  events: EventPublisher;
  emitReceived: boolean;
  log: Logger;
  agent: AgentConfig;
  codeMode: CodeModeConfig;
  /** The worker threads code mode's programs run on. */
  sandboxes: SandboxPool;
  settlements: Settlements;
  authorizations: Authorizations;
  promptCounting: PromptCounting;
  /** What records keep of each caller's content (guardrails.storage). */
  storage: IngressStoragePolicies;
  /** This process as governance knows it; none when governance runs in this process (they die together). */
  holder: Holder | undefined;
  /** The keys the batch lines this process runs are sent as. */
  batchKeys: BatchLineKeys;
}

/** One client request on its way through the gateway: its ids, its admission, and how it ends. */
export class InboundRequest {
  readonly startedAt = performance.now();
  readonly context: RequestContext;
  private grant: AuthorizeResponse | undefined;
  private presentedKeyHash: Buffer | undefined;
  private finished = false;
  /** The client's labels for spend reports, read at admission. */
  private tags: string[] = [];

  constructor(
    private readonly deps: PipelineDeps,
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    readonly endpoint: string,
  ) {
    this.context = {
      requestId: request.id,
      traceId: traceIdOf(request.traceSpan) ?? traceIdFrom(request.headers.traceparent),
      actor: undefined,
      sourceAddress: request.ip,
    };
    request.inbound = this;
    if (deps.emitReceived) deps.events.emit(requestEvent(EventType.requestReceived, { service: 'ingress', context: this.context }, receivedOutcome(endpoint)));
  }

  get cacheNamespace(): string {
    return this.grant?.cacheNamespace ?? '';
  }

  /**
   * Authenticates the virtual key and asks governance to admit the request.
   * The key comes as `Authorization: Bearer` (OpenAI clients) or `x-api-key`
   * (Anthropic clients). `billed`: the most an API billed by unit (images) can bill, reserved at its price.
   */
  async admit(model: string, body?: { raw: Buffer | undefined; parsed: unknown }, billed?: BilledUnits): Promise<void> {
    if (!this.deps.events.accepting()) {
      throw new GatewayError('service_unavailable', 'The gateway cannot record requests right now (its event spool is full), so it serves none; retry later.');
    }
    const keyHash = (this.presentedKeyHash = this.keyHash());
    this.tags = requestTags(this.request.headers, body?.parsed);
    const prompt = this.measure(body?.raw, body?.parsed);
    this.grant = await this.deps.authorizations.authorize({
      context: this.context,
      keyHash,
      model,
      endpoint: this.endpoint,
      promptBoundTokens: prompt.boundTokens,
      promptO200kTokens: prompt.o200kTokens,
      maxOutputTokens: maxOutputTokens(body?.parsed),
      choices: choicesOf(body?.parsed),
      billed,
      holder: this.deps.holder?.id ?? '',
    });
    this.deps.promptCounting.learn(keyHash, this.grant.countsPromptTokens);
    this.deps.holder?.admitted();
    this.context.actor = this.grant.actor;
    void this.reply.headers(this.grant.headers);
  }

  /** The hash of the key the request presents, or for a batch line the key of its batch. */
  private keyHash(): Buffer {
    const batchKey = this.deps.batchKeys.keyHashOf(this.request.headers);
    if (batchKey) return batchKey;
    const key = presentedKey(this.request.headers);
    if (!key) throw new GatewayError('missing_api_key', "You didn't provide an API key. Send your virtual key as Authorization: Bearer <key>.");
    return hashSecret(key);
  }

  /** Whether the admitted key may use this model, as admission decides it for a request naming the model. */
  mayUse(model: string): boolean {
    return matchesAny(this.grant?.allowedModels ?? [], model);
  }

  /** The output cap governance reserved for, which routing sends to the provider (0: none). */
  get outputCap(): number {
    return this.grant?.maxOutputTokens ?? 0;
  }

  /**
   * Reserves one more model call under this admission (agent mode's rounds
   * after the first) with its own prompt (`raw`: the body as it is sent); returns
   * the output cap reserved for it. Refused (budget_exceeded and the like) when its worst case does not fit.
   */
  async extend(body: Record<string, unknown>, raw: Buffer): Promise<number> {
    return this.reserveMore(body, raw, false);
  }

  /** Reserves the prompt the gateway added to the admitted call (the key's MCP tools): the provider bills it too. */
  async reserveAddedPrompt(part: Record<string, unknown>): Promise<void> {
    if (this.grant?.countsPromptTokens) await this.reserveMore(part, Buffer.from(JSON.stringify(part)), true);
  }

  private async reserveMore(body: Record<string, unknown>, raw: Buffer, promptOnly: boolean): Promise<number> {
    const prompt = this.measure(raw, body);
    const { maxOutputTokens: cap } = await this.deps.clients.governance.extendReservation({
      context: this.context,
      reservationId: this.grant!.reservationId,
      promptBoundTokens: prompt.boundTokens,
      promptO200kTokens: prompt.o200kTokens,
      maxOutputTokens: promptOnly ? 0 : maxOutputTokens(body),
      promptOnly,
    });
    return cap;
  }

  private measure(raw: Buffer | undefined, parsed: unknown): PromptMeasure {
    if (!raw || typeof parsed !== 'object' || parsed === null) return { boundTokens: 0, o200kTokens: 0 };
    return measurePrompt(raw, parsed as Record<string, unknown>, this.deps.promptCounting.wanted(this.presentedKeyHash!));
  }

  /**
   * Records the outcome and releases the admission; only the first call counts. An answer is sent whole only
   * once the returned promise resolves: then its record is durable (events.guarantee); a rejection says to withhold it.
   */
  finish(outcome: Omit<Outcome, 'endpoint'>): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.finished = true;
    const recorded = this.deps.recorder.record(this.context, this.startedAt, this.grant !== undefined, {
      ...outcome,
      endpoint: this.endpoint,
      tags: this.tags,
    });
    if (this.grant) {
      this.deps.holder?.settled();
      this.deps.settlements.add({
        context: this.context,
        reservationId: this.grant.reservationId,
        usage: outcome.usage,
        success: !outcome.error,
        served: outcome.served,
        cacheHit: outcome.cacheHit ?? false,
      });
    }
    return recorded;
  }

  /** For a request whose record is the events of what it did (MCP tool calls): nothing more is recorded for it. */
  recordedElsewhere(): void {
    this.finished = true;
  }

  /** Records a failure and returns it as a GatewayError for the error handler. */
  fail(err: unknown, model: string, stream: boolean): GatewayError {
    const error = asGatewayError(err);
    const { attempts, guardrails, paid } = error;
    void this.finish({ model, stream, httpStatus: error.status, error, attempts, guardrails, usage: paid?.usage, served: paid?.served });
    return error;
  }

  /**
   * The x-gateway-overhead-us header for an answer that starts now: the time
   * since the request arrived minus the time spent waiting on providers
   * (retry waits count as the gateway's; a cache hit is all gateway).
   */
  overheadHeader(upstreamMs: number): Record<string, string> {
    return { 'x-gateway-overhead-us': String(this.deps.recorder.overheadUs(this.endpoint, this.startedAt, upstreamMs)) };
  }

  /** Whether request and response content may be recorded for this request's key. */
  get contentLogging(): boolean {
    return this.grant?.contentLogging ?? false;
  }

  /** The admitted key, for the tool calls the request makes: its hash, and its default tool mode. */
  get key(): { hash: Buffer; toolMode: string } | undefined {
    return this.grant && this.presentedKeyHash ? { hash: this.presentedKeyHash, toolMode: this.grant.toolMode } : undefined;
  }
}

/**
 * Records a request refused at any layer (its body, its key, an unknown URL),
 * once: a handler that recorded its outcome already leaves nothing to do.
 */
export function refuse(deps: PipelineDeps, request: FastifyRequest, reply: FastifyReply, error: GatewayError): GatewayError {
  const inbound = (request.inbound ??= new InboundRequest(deps, request, reply, request.routeOptions.config.endpoint ?? ''));
  const body = request.body as { model?: unknown; stream?: unknown } | undefined;
  return inbound.fail(error, recordedModel(body?.model), body?.stream === true);
}

/** The model a refused request named; one refused for its length is recorded by its start. */
function recordedModel(model: unknown): string {
  if (typeof model !== 'string') return '';
  return model.length > 1_000 ? `${model.slice(0, 1_000)}…` : model;
}

function receivedOutcome(endpoint: string) {
  return {
    endpoint,
    model: '',
    served: undefined,
    httpStatus: 0,
    usage: undefined,
    stream: false,
    cacheHit: false,
    durationMs: 0,
    errorCode: '',
    errorMessage: '',
    attempts: [],
  };
}

/** How many answers the request asks for (n), each of which may use its whole output cap. */
export function choicesOf(body: unknown): number {
  const n = (body as { n?: unknown } | undefined)?.n ?? generationConfig(body)?.candidateCount;
  return typeof n === 'number' && n > 1 ? n : 1;
}

/** The request's cap on output tokens, under whichever name its API uses; 0 when it sets none. */
export function maxOutputTokens(body: unknown): number {
  if (typeof body !== 'object' || body === null) return 0;
  const b = body as Record<string, unknown>;
  const cap = b.max_completion_tokens ?? b.max_tokens ?? b.max_output_tokens ?? generationConfig(body)?.maxOutputTokens ?? inferenceConfig(body)?.maxTokens;
  return typeof cap === 'number' && Number.isFinite(cap) && cap > 0 ? Math.floor(cap) : 0;
}

/** Gemini's generation settings (its passthrough), where its output cap and candidate count are. */
function generationConfig(body: unknown): Record<string, unknown> | undefined {
  const config = (body as { generationConfig?: unknown } | undefined)?.generationConfig;
  return typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : undefined;
}

/** Bedrock Converse's inference settings (its passthrough), where its output cap is. */
function inferenceConfig(body: unknown): Record<string, unknown> | undefined {
  const config = (body as { inferenceConfig?: unknown } | undefined)?.inferenceConfig;
  return typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : undefined;
}

/** Header values are visible ASCII: a model named in another script ("模型") is sent percent-encoded, as in a URL. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** Response headers naming the deployment that answered. */
export function servedHeaders(served: Served | undefined, attempts: Attempt[], queuedMs?: number): Record<string, string> {
  if (!served) return {};
  return {
    'x-gateway-provider': headerSafe(served.provider),
    'x-gateway-model': headerSafe(served.model),
    'x-gateway-deployment': headerSafe(served.deployment),
    'x-gateway-attempts': String(attempts.length),
    // Rounded up: an answer that waited for a slot at all never says 0.
    ...(queuedMs ? { 'x-gateway-queued-ms': String(Math.ceil(queuedMs)) } : {}),
  };
}

/** The trace id of a W3C traceparent header, or a new one. */
export function traceIdFrom(traceparent: string | string[] | undefined): string {
  const value = Array.isArray(traceparent) ? traceparent[0] : traceparent;
  const match = value ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(value.trim()) : null;
  return match && match[1] !== '0'.repeat(32) ? match[1]! : newTraceId();
}
