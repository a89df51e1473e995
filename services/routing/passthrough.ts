import type { Attempt, Usage } from '../gen/gateway/v1/common.js';
import type { CompletionChunk, CompletionResponse, Passthrough, RoutingHints } from '../gen/gateway/v1/routing.js';
import { streamErrorEvent } from '../kit/api-errors.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { NATIVE_RESPONSES_TYPES, PASSTHROUGH_APIS, passthroughEndpoint, passthroughRoute, passthroughStreams } from '../kit/passthrough.js';
import { billedHostedTools, webSearchKind } from '../kit/pricing/units.js';
import {
  bedrockForModel,
  bedrockInvokes,
  bedrockUngoverned,
  capBedrockOutput,
  converseUsage,
  readBedrockEvent,
  refuseBedrockInvoke,
} from './passthrough-bedrock.js';
import { capGeminiOutput, geminiForModel, geminiStreamUsage, geminiUngoverned, geminiUsage, readGeminiEvent } from './passthrough-gemini.js';
import type { UsageMetadata } from './providers/gemini-response.js';
import { openAIUsage } from './providers/anthropic-mapping.js';
import type { Usage as AnthropicUsage } from './providers/anthropic-wire.js';
import { EMPTY_USAGE, ProviderError, usageFromOpenAI, type NativeAnswer, type NativeRequest, type ProviderAdapter } from './providers/types.js';
import type { Router, Routed, Target } from './router/router.js';
import type { SseEvent } from './sse.js';

/**
 * Provider-native passthrough (docs/routing.md, "Provider-native passthrough"): the client's body goes to one
 * configured provider of the API's type, in the provider's own shape, with the output cap governance reserved for;
 * the answer comes back as the provider sent it, and its usage is read from it for the ledger.
 */

/** The provider a passthrough API is served by: the one the client named, else the only or first of the API's types. */
export function passthroughProvider(providers: readonly ProviderAdapter[], api: string, named: string): ProviderAdapter {
  const spec = PASSTHROUGH_APIS[api];
  if (!spec) throw new GatewayError('not_found', `The gateway has no passthrough for the provider API \`${api}\`.`);
  const serving = providers.filter((provider) => spec.types.includes(provider.type));
  if (named) {
    const provider = serving.find((p) => p.name === named);
    if (provider) return provider;
    throw new GatewayError(
      'invalid_request',
      `No configured provider \`${named}\` serves the ${api} API${serving.length ? `; those that do: ${serving.map((p) => p.name).join(', ')}` : ''}.`,
      { param: 'x-gateway-provider' },
    );
  }
  const provider = serving[0];
  if (!provider) throw new GatewayError('not_found', `No provider of type ${spec.types.join(' or ')} is configured, so /${api}/ is not served.`);
  return provider;
}

/** The request for the provider, the model it names, and whether the client asked for the usage the gateway adds to a stream. */
interface Prepared {
  model: string;
  /** The listed path the request's path matched (kit/passthrough.ts), `{model}` in it where the path names the model. */
  listed: string;
  native: NativeRequest;
  /** A streamed chat or completion whose usage chunk the gateway asked for: dropped before the client, who did not. */
  dropUsageChunk: boolean;
}

/**
 * `unified`: a request of the unified /v1/responses served by OpenAI's or Azure's Responses API (responses-native.ts): routed
 * by its model group like any unified request, to providers of NATIVE_RESPONSES_TYPES only, and its web search and
 * image generation tools pass, since their calls are metered (billedHostedTools).
 */
function prepare(passthrough: Passthrough, body: Record<string, unknown>, cap: number, unified: boolean): Prepared {
  const route = passthroughRoute(passthrough.api, passthrough.path);
  const path = route && PASSTHROUGH_APIS[passthrough.api]!.paths[route.listed];
  if (!route || !path) throw new GatewayError('not_found', `The gateway does not pass ${passthrough.path} through to the ${passthrough.api} API.`);
  const model = route.model ?? body.model;
  if (typeof model !== 'string' || model === '') throw new GatewayError('invalid_request', "Missing required parameter: 'model'.", { param: 'model' });
  if (passthrough.api === 'bedrock') refuseBedrockInvoke(route.listed, model);
  refuseUngoverned(passthrough.api, route.listed, body, passthrough.headers, unified);
  const sent = { ...body };
  const stream = passthroughStreams(passthrough.api, route.listed, sent);
  if (cap > 0 && path.output) capOutput(passthrough.api, route.listed, sent, cap);
  let dropUsageChunk = false;
  if (stream && passthrough.api === 'openai' && passthrough.path !== '/v1/responses') {
    // Usage comes only in a last chunk the client must ask for; the gateway asks, since it meters from it.
    const options = typeof sent.stream_options === 'object' && sent.stream_options !== null ? (sent.stream_options as Record<string, unknown>) : {};
    dropUsageChunk = options.include_usage !== true;
    sent.stream_options = { ...options, include_usage: true };
  }
  return { model, listed: route.listed, native: { path: passthrough.path, headers: passthrough.headers, body: sent, stream }, dropUsageChunk };
}

/**
 * What the provider would do outside the gateway's controls is refused, naming the parameter: tools it runs itself
 * and bills per call (web search, code execution, file search, MCP; neither reserved nor metered), state it keeps for
 * the whole provider account rather than the key's tenant (previous_response_id, conversation, Gemini's cachedContent),
 * and background responses, whose usage comes after the call the gateway meters.
 */
const UNGOVERNED_PARAMS: Record<string, readonly string[]> = {
  openai: ['previous_response_id', 'conversation', 'background', 'web_search_options'],
  anthropic: ['mcp_servers', 'container'],
};
const PROVIDER_RUN_TOOL = /^(web_search|web_fetch|code_execution|code_interpreter|file_search|image_generation|mcp)/;

function refuseUngoverned(api: string, listed: string, body: Record<string, unknown>, headers: Record<string, string>, unified: boolean): void {
  const found = ungovernedIn(api, listed, body, headers, unified);
  if (found?.tool) {
    throw new GatewayError(
      'invalid_request',
      `The gateway does not pass the tool \`${found.tool}\` through: the provider runs it and bills it per call, which budgets and the usage ledger do not count.`,
      { param: found.param },
    );
  }
  if (found) {
    throw new GatewayError(
      'invalid_request',
      `The gateway does not pass \`${found.param}\` through: what it asks of the provider is outside the key's tenant, budgets or metering.`,
      { param: found.param },
    );
  }
}

function ungovernedIn(api: string, listed: string, body: Record<string, unknown>, headers: Record<string, string>, unified: boolean) {
  if (api === 'gemini') return geminiUngoverned(body);
  if (api !== 'bedrock') return ungoverned(api, body, unified);
  // A Bedrock invoke body is Anthropic's Messages request (refuseBedrockInvoke), read as Anthropic's is.
  return bedrockUngoverned(headers, body) ?? (bedrockInvokes(listed) ? ungoverned('anthropic', body) : undefined);
}

function ungoverned(api: string, body: Record<string, unknown>, unified = false): { param: string; tool?: string } | undefined {
  const param = (UNGOVERNED_PARAMS[api] ?? []).find((name) => body[name] !== undefined && body[name] !== null && body[name] !== false);
  if (param) return { param };
  const tools = Array.isArray(body.tools) ? (body.tools as { type?: unknown }[]) : [];
  const metered = (type: string) => unified && (webSearchKind(type) !== undefined || type === 'image_generation');
  const i = tools.findIndex((tool) => typeof tool?.type === 'string' && PROVIDER_RUN_TOOL.test(tool.type) && !metered(tool.type));
  return i < 0 ? undefined : { param: `tools[${i}].type`, tool: String(tools[i]!.type) };
}

/** Lowers (or sets) the request's output cap in the parameter its API reads, as routing does for the unified API. */
export function capOutput(api: string, path: string, body: Record<string, unknown>, cap: number): void {
  if (api === 'gemini') return capGeminiOutput(body, cap);
  if (api === 'bedrock') return capBedrockOutput(path, body, cap);
  const param =
    api === 'anthropic' || path === '/v1/completions'
      ? 'max_tokens'
      : path === '/v1/responses'
        ? 'max_output_tokens'
        : typeof body.max_tokens === 'number' && body.max_completion_tokens === undefined
          ? 'max_tokens'
          : 'max_completion_tokens';
  const asked = body[param];
  body[param] = typeof asked === 'number' && asked > 0 && asked < cap ? asked : cap;
}

/**
 * Calls the chosen provider (retries and credential rotation as for any call); a group under the same name that
 * reaches another provider is refused. A unified request goes to its model group, as its hints say.
 */
function call(
  router: Router,
  passthrough: Passthrough,
  prepared: Prepared,
  hints: RoutingHints | undefined,
  signal: AbortSignal,
  unified: boolean,
): Promise<Routed<NativeAnswer>> {
  const pinned = { strategy: '', deployment: '', noFallbacks: true, maxOutputTokens: hints?.maxOutputTokens ?? 0, anthropicBeta: [] };
  const serves = (provider: ProviderAdapter) => (unified ? NATIVE_RESPONSES_TYPES.includes(provider.type) : provider.name === passthrough.provider);
  const name = unified ? prepared.model : `${passthrough.provider}/${prepared.model}`;
  return router.route(name, unified ? hints : pinned, signal, ({ deployment: { provider, model }, credential, signal }: Target) => {
    if (!serves(provider) || !provider.native) {
      throw new ProviderError('bad_request', provider.name, `A ${passthrough.api} passthrough request cannot be served by provider ${provider.name}.`);
    }
    const named = forModel(passthrough.api, prepared.listed, prepared.native.body, model);
    return provider.native({ request: { ...prepared.native, ...named }, credential, signal });
  });
}

/** The request's path and body for the model the chosen deployment serves, named where each API names it. */
function forModel(api: string, listed: string, body: Record<string, unknown>, model: string): { path?: string; body: Record<string, unknown> } {
  if (api === 'bedrock') return bedrockForModel(listed, body, model);
  if (listed.includes('{model}')) return geminiForModel(listed, body, model);
  return { body: { ...body, model } };
}

/** The ledger's usage of a whole answer, from where each API reports it (a Bedrock invoke's is Anthropic's body usage). */
function wholeUsage(api: string, listed: string, request: Record<string, unknown>, answer: Record<string, unknown> | undefined): Usage {
  if (api === 'gemini') return geminiUsage(listed, request, answer);
  if (api === 'bedrock') return bedrockInvokes(listed) ? usageOf('anthropic', answer?.usage) : converseUsage(answer);
  return withHostedToolCalls(usageOf(api, answer?.usage), request, answer);
}

/** A Responses API answer's usage with the hosted tool calls it made (web searches, images), which OpenAI bills on top of tokens. */
function withHostedToolCalls(usage: Usage, request: Record<string, unknown>, response: Record<string, unknown> | undefined): Usage {
  const billed = billedHostedTools(request, response?.output);
  return billed ? { ...usage, billed } : usage;
}

/** A whole answer, as the provider sent it, with its usage read. */
export async function passthroughWhole(
  router: Router,
  passthrough: Passthrough,
  body: Record<string, unknown>,
  hints: RoutingHints | undefined,
  signal: AbortSignal,
  unified = false,
): Promise<Omit<CompletionResponse, 'guardrails'>> {
  const prepared = prepare(passthrough, body, hints?.maxOutputTokens ?? 0, unified);
  if (prepared.native.stream) throw new GatewayError('internal_error', 'A streamed passthrough request was sent as a whole one.');
  const routed = await call(router, passthrough, prepared, hints, signal, unified);
  if (!('whole' in routed.value)) throw new GatewayError('internal_error', 'The provider streamed an answer asked for whole.');
  const { bytes, contentType } = routed.value.whole;
  const answer = jsonOrUndefined(bytes.toString('utf8'));
  const usage = wholeUsage(passthrough.api, prepared.listed, prepared.native.body, answer);
  return {
    body: bytes,
    contentType,
    usage,
    served: routed.deployment.served,
    attempts: routed.attempts,
    queuedMs: routed.queuedMs,
    answer: Buffer.alloc(0),
    cache: undefined,
  };
}

/** A streamed answer: the provider's events as they arrive, metered from their usage, ending like every stream (start, data…, end). */
export async function* passthroughStream(
  router: Router,
  passthrough: Passthrough,
  body: Record<string, unknown>,
  hints: RoutingHints | undefined,
  signal: AbortSignal,
  unified = false,
): AsyncGenerator<CompletionChunk> {
  const prepared = prepare(passthrough, body, hints?.maxOutputTokens ?? 0, unified);
  const routed = await call(router, passthrough, prepared, hints, signal, unified);
  if (!('events' in routed.value)) throw new GatewayError('internal_error', 'The provider answered whole a request asked for as a stream.');
  const upstreamMs = routed.attempts.reduce((sum, attempt) => sum + attempt.durationMs, 0);
  yield { kind: { $case: 'start', start: { served: routed.deployment.served, upstreamMs, cache: undefined, queuedMs: routed.queuedMs } } };
  const meter = new StreamMeter(passthrough.api, prepared.native.body);
  const endpoint = passthroughEndpoint(passthrough.api, prepared.listed);
  let error: GatewayError | undefined;
  try {
    for await (const event of routed.value.events) {
      const { forward, final } = meter.read(event, prepared.dropUsageChunk);
      if (forward) yield { kind: { $case: 'data', data: { event: event.event, data: Buffer.from(event.data), final } } };
    }
    const provider = routed.deployment.provider.name;
    if (meter.failure) error = new ProviderError('server', provider, `Provider ${provider} failed mid-stream: ${meter.failure}`);
    else if (!meter.complete) error = new ProviderError('network', provider, `Provider ${provider} ended the stream before the answer was complete.`);
  } catch (err) {
    error = asGatewayError(err);
  }
  // The provider's own error event reached the client already: recorded, not repeated.
  if (error && !meter.failure) {
    const event = streamErrorEvent(endpoint, error);
    yield { kind: { $case: 'data', data: { event: event.event ?? '', data: Buffer.from(event.data), final: false } } };
  }
  yield streamEnd(meter.usage(), routed.attempts, error);
}

function streamEnd(usage: Usage, attempts: Attempt[], error: GatewayError | undefined): CompletionChunk {
  const failure = { errorCode: error?.code ?? '', errorMessage: error?.message ?? '', httpStatus: error?.status ?? 200 };
  return { kind: { $case: 'end', end: { usage, attempts, guardrails: [], ...failure } } };
}

/** Reads a provider-native stream's events: which complete the answer, and the usage they report. */
class StreamMeter {
  complete = false;
  /** The message of an error event the provider sent in its stream. */
  failure: string | undefined;
  private openai: Record<string, unknown> | undefined;
  /** The Responses API's whole response, from its last event. */
  private response: Record<string, unknown> | undefined;
  private anthropic: Record<string, unknown> | undefined;
  private gemini: UsageMetadata | undefined;
  private converse: Usage | undefined;

  constructor(
    private readonly api: string,
    private readonly request: Record<string, unknown>,
  ) {}

  read(event: SseEvent, dropUsageChunk: boolean): { forward: boolean; final: boolean } {
    if (this.api === 'bedrock') return this.readBedrock(event);
    if (this.api === 'openai' && event.data === '[DONE]') return this.completes();
    const data = jsonOrUndefined(event.data);
    if (!data) return { forward: true, final: this.complete };
    // An error event of either API (Anthropic's and the Responses API's `type: "error"`, a chat chunk's `error`).
    const error = data.type === 'error' ? (data.error ?? data) : data.error;
    if (typeof error === 'object' && error !== null) {
      const message = (error as { message?: unknown }).message;
      this.failure = typeof message === 'string' ? message : 'unknown error';
      return { forward: true, final: false };
    }
    if (this.api === 'gemini') {
      // Each event carries the usage so far: the last one holds the whole.
      const { usage, complete } = readGeminiEvent(data);
      this.gemini = usage ?? this.gemini;
      return complete ? this.completes() : { forward: true, final: this.complete };
    }
    if (this.api === 'anthropic') return this.readAnthropic(data);
    // OpenAI: the Responses API's events carry the response; chat and completions chunks their usage and finish reasons.
    if (typeof data.type === 'string' && data.type.startsWith('response.')) {
      const ended = ['response.completed', 'response.incomplete', 'response.failed'].includes(data.type);
      if (ended) {
        this.response = data.response as Record<string, unknown> | undefined;
        this.openai = (this.response?.usage as Record<string, unknown> | undefined) ?? undefined;
      }
      return ended ? this.completes() : { forward: true, final: this.complete };
    }
    if (typeof data.usage === 'object' && data.usage !== null) this.openai = data.usage as Record<string, unknown>;
    const choices = Array.isArray(data.choices) ? (data.choices as { finish_reason?: unknown }[]) : [];
    if (choices.some((choice) => choice.finish_reason)) return this.completes();
    return { forward: !(dropUsageChunk && choices.length === 0 && this.openai), final: this.complete };
  }

  /** An Anthropic Messages event (its own stream's, or one a Bedrock invoke stream carries): usage from message_start and message_delta. */
  private readAnthropic(data: Record<string, unknown>): { forward: boolean; final: boolean } {
    if (data.type === 'message_start') this.anthropic = { ...((data.message as { usage?: object } | undefined)?.usage ?? {}) };
    if (data.type === 'message_delta' && typeof data.usage === 'object' && data.usage !== null) {
      const reported = Object.entries(data.usage).filter(([, value]) => value != null);
      this.anthropic = { ...this.anthropic, ...Object.fromEntries(reported) };
    }
    return data.type === 'message_delta' || data.type === 'message_stop' ? this.completes() : { forward: true, final: this.complete };
  }

  private readBedrock(event: SseEvent): { forward: boolean; final: boolean } {
    const { failure, complete, usage, anthropic } = readBedrockEvent(event);
    if (failure !== undefined) {
      this.failure = failure;
      return { forward: true, final: false };
    }
    if (anthropic) return this.readAnthropic(anthropic);
    this.converse = usage ?? this.converse;
    return complete ? this.completes() : { forward: true, final: this.complete };
  }

  private completes(): { forward: true; final: true } {
    this.complete = true;
    return { forward: true, final: true };
  }

  usage(): Usage {
    if (this.api === 'gemini') return geminiStreamUsage(this.gemini);
    if (this.converse) return this.converse;
    return this.api === 'openai' ? withHostedToolCalls(usageOf('openai', this.openai), this.request, this.response) : usageOf('anthropic', this.anthropic);
  }
}

/**
 * The ledger's usage from a native answer's usage object: Anthropic's (input, output, cache reads and writes), the
 * Responses API's (input_tokens, output_tokens and their details) or chat's and embeddings' (prompt_tokens…).
 */
interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number };
  output_tokens_details?: { reasoning_tokens?: number };
}

function usageOf(api: string, usage: unknown): Usage {
  if (typeof usage !== 'object' || usage === null) return EMPTY_USAGE;
  if (api === 'anthropic') return usageFromOpenAI(openAIUsage({ input_tokens: 0, output_tokens: 0, ...usage } as AnthropicUsage));
  const u = usage as ResponsesUsage;
  if (typeof u.input_tokens === 'number') {
    return usageFromOpenAI({
      prompt_tokens: u.input_tokens,
      completion_tokens: u.output_tokens ?? 0,
      total_tokens: u.total_tokens ?? u.input_tokens + (u.output_tokens ?? 0),
      prompt_tokens_details: { cached_tokens: u.input_tokens_details?.cached_tokens },
      completion_tokens_details: { reasoning_tokens: u.output_tokens_details?.reasoning_tokens },
    });
  }
  return usageFromOpenAI(u as Parameters<typeof usageFromOpenAI>[0]);
}

function jsonOrUndefined(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
