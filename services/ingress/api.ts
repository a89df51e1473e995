import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../gen/gateway/v1/common.js';
import type { CacheRequest, CompletionRequest, RoutingHints, StreamStart } from '../gen/gateway/v1/routing.js';
import { streamErrorEvent } from '../kit/api-errors.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { headerValue } from '../kit/http.js';
import { streamFraming } from '../kit/passthrough.js';
import { reservedHostedTools } from '../kit/pricing/units.js';
import { InboundRequest, servedHeaders, type PipelineDeps } from './pipeline.js';
import { cacheHeaders, cacheRequestOf } from './cache.js';
import { SseWriter } from './sse.js';
import { storedErrorMessage } from './storage-policies.js';
import { offerTools, runAgent, toolModeOf, type ToolOffer } from './agent.js';

/** Longest routing override header taken: deployment ids are `<provider>/<model>` or configured names. */
const MAX_HINT_LENGTH = 512;

/** Per-request routing overrides a client may send as headers. */
export function hintsOf(request: FastifyRequest): RoutingHints {
  const header = (name: string) => {
    const value = headerValue(request.headers[name]) ?? '';
    if (value.length > MAX_HINT_LENGTH)
      throw new GatewayError('invalid_request', `Invalid ${name} header: longer than ${MAX_HINT_LENGTH} characters.`, { param: name });
    return value;
  };
  return {
    strategy: header('x-gateway-strategy'),
    deployment: header('x-gateway-deployment'),
    noFallbacks: /^(1|true|yes)$/i.test(header('x-gateway-no-fallbacks')),
    maxOutputTokens: 0,
    anthropicBeta: header('anthropic-beta')
      .split(',')
      .map((flag) => flag.trim())
      .filter(Boolean),
  };
}

/**
 * One model endpoint (chat completions, completions, responses, embeddings,
 * Anthropic messages): admit, hand the request to routing (which answers from
 * the cache or a provider), send the answer, and record the outcome. The body
 * has passed its API's schema (validation.ts) before this runs; it goes to
 * routing as received, and routing translates it.
 */
export function modelEndpoint(deps: PipelineDeps, endpoint: string) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const inbound = new InboundRequest(deps, request, reply, endpoint);
    const raw = request.body as Record<string, unknown> & { model: string };
    const model = raw.model;
    const stream = raw.stream === true && endpoint !== 'embeddings';
    let cache: CacheRequest;
    let hints: RoutingHints;
    let tools: ToolOffer | undefined;
    try {
      // A Responses request's web search calls, billed per call where OpenAI serves them, are reserved as many as it may make.
      await inbound.admit(model, { raw: request.rawBody, parsed: raw }, endpoint === 'responses' ? reservedHostedTools(raw) : undefined);
      cache = cacheRequestOf(request, inbound.cacheNamespace);
      hints = { ...hintsOf(request), maxOutputTokens: inbound.outputCap };
      const mode = endpoint === 'chat.completions' ? toolModeOf(request, inbound) : 'off';
      tools = await offerTools(deps, inbound, raw, mode);
    } catch (err) {
      throw inbound.fail(err, model, stream);
    }
    // The gateway runs the tool loop only when some offered tool may run on its own; answers of such loops are not cached.
    if (tools && tools.auto.size > 0) return runAgent(deps, inbound, { request, reply, offer: tools, hints, model, settings: deps.agent });
    const body = tools ? Buffer.from(JSON.stringify(tools.body)) : (request.rawBody ?? Buffer.from(JSON.stringify(raw)));
    const call = { context: inbound.context, endpoint, body, hints, replay: undefined, keepAnswer: false, cache, uploads: [], passthrough: undefined };
    if (stream) return streamed(deps, inbound, request, reply, call, model);
    return whole(deps, inbound, reply, call, model);
  };
}

export async function whole(deps: PipelineDeps, inbound: InboundRequest, reply: FastifyReply, call: CompletionRequest, model: string) {
  // A client that hangs up leaves routing too: its place in a deployment's queue, or the provider call.
  const gone = new AbortController();
  reply.raw.once('close', () => reply.raw.writableFinished || gone.abort());
  try {
    const result = await deps.clients.routing.complete(call, { signal: gone.signal });
    const cacheHit = result.cache?.result === 'hit';
    const { served, usage, attempts, guardrails } = result;
    await inbound.finish({ model, stream: false, httpStatus: 200, served, usage, attempts, guardrails, cacheHit });
    const upstreamMs = result.attempts.reduce((sum, attempt) => sum + attempt.durationMs, 0);
    return (
      reply
        .headers({ ...servedHeaders(result.served, result.attempts, result.queuedMs), ...cacheHeaders(result.cache), ...inbound.overheadHeader(upstreamMs) })
        // Audio, and transcripts as text, SRT or VTT, in the media type the provider answered with.
        .type(result.contentType || 'application/json')
        .send(result.body)
    );
  } catch (err) {
    throw inbound.fail(gone.signal.aborted ? clientClosed('answer was sent') : err, model, false);
  }
}

const clientClosed = (before: string) => new GatewayError('client_closed_request', `The client closed the connection before the ${before}.`);

/** A streamed answer, passed on event by event; `cutUsage`: what a stream the client cuts is billed (none by default). */
export async function streamed(
  deps: PipelineDeps,
  inbound: InboundRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  call: CompletionRequest,
  model: string,
  cutUsage?: Usage,
) {
  const { endpoint } = inbound;
  // A stream's failure is logged with the provider's message, as the caller's storage policies keep prompts.
  const storage = deps.storage.forActor(inbound.context.actor);
  const abort = new AbortController();
  const chunks = deps.clients.routing.completeStream(call, { signal: abort.signal });
  const iterator = chunks[Symbol.asyncIterator]();
  let start: StreamStart | undefined;
  const clientGone = () => abort.abort();
  // From the start: a client that hangs up while its call waits for a slot or a first chunk leaves routing too.
  reply.raw.on('close', clientGone);
  try {
    // Nothing is sent until a provider's first chunk arrived (or the cache's answer), so an early failure is a plain HTTP error.
    const first = await iterator.next();
    if (first.value?.kind?.$case === 'start') start = first.value.kind.start;
  } catch (err) {
    reply.raw.off('close', clientGone);
    throw inbound.fail(abort.signal.aborted ? clientClosed('stream began') : err, model, true);
  }
  const served = start?.served;
  const cacheHit = start?.cache?.result === 'hit';

  reply.hijack();
  const sse = new SseWriter(reply.raw, streamFraming(endpoint));
  const closedByClient = () => {
    const error = clientClosed('stream ended');
    void inbound.finish({ model, stream: true, httpStatus: error.status, served, error, cacheHit, usage: cutUsage });
  };
  sse.start({
    ...(reply.getHeaders() as Record<string, string>),
    ...servedHeaders(served, [], start?.queuedMs),
    ...cacheHeaders(start?.cache),
    ...inbound.overheadHeader(start?.upstreamMs ?? 0),
  });
  let recorded: Promise<void> = Promise.resolve();
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const kind = next.value.kind;
      if (kind?.$case === 'data') {
        await sse.data(kind.data);
      } else if (kind?.$case === 'end') {
        const { usage, attempts, errorCode, guardrails } = kind.end;
        const error = errorCode ? new GatewayError('upstream_error', kind.end.errorMessage, { status: kind.end.httpStatus || 502 }) : undefined;
        if (error) request.log.warn({ code: errorCode, reason: storedErrorMessage(storage, error.message) }, 'stream failed after it began');
        recorded = inbound.finish({
          model,
          stream: true,
          httpStatus: error ? error.status : 200,
          served,
          usage,
          attempts,
          guardrails,
          error,
          errorCode,
          cacheHit,
        });
      }
      if (abort.signal.aborted) break;
    }
    if (abort.signal.aborted) closedByClient();
    await sse.complete(recorded, endpoint);
  } catch (err) {
    if (abort.signal.aborted) {
      // The client went away and its cancellation ended the call to routing: nobody is left to tell.
      closedByClient();
      return;
    }
    // Routing itself failed mid-stream (e.g. its process went away): end the stream in the client's API.
    const error = asGatewayError(err);
    request.log.warn({ code: error.code, reason: storedErrorMessage(storage, error.message) }, 'stream failed after it began');
    void inbound.finish({ model, stream: true, httpStatus: error.status, served, error, cacheHit });
    const event = streamErrorEvent(endpoint, error);
    await sse.event(event.event ?? '', event.data);
    sse.end();
  } finally {
    reply.raw.off('close', clientGone);
    void iterator.return?.();
  }
}
