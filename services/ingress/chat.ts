import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CompletionChunk } from '../gen/gateway/v1/routing.js';
import type { Served, Usage } from '../gen/gateway/v1/common.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { Admission, type PipelineDeps } from './pipeline.js';
import { SseWriter } from './sse.js';
import { validateChatBody, type ChatBody } from './validate.js';

const ENDPOINT = 'chat.completions';

function servedHeaders(served: Served | undefined): Record<string, string> {
  return served ? { 'x-gateway-provider': served.provider, 'x-gateway-model': served.model } : {};
}

/** POST /v1/chat/completions: admit, try the cache, route, and record the outcome. */
export function chatCompletions(deps: PipelineDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const admission = new Admission(deps, request, reply, ENDPOINT);
    const raw = request.body;
    const model = typeof (raw as { model?: unknown })?.model === 'string' ? (raw as { model: string }).model : '';
    const stream = (raw as { stream?: unknown })?.stream === true;
    let body: ChatBody;
    try {
      // The key is checked before the body, so an unauthenticated caller learns nothing about validation.
      await admission.admit(request.headers.authorization, model);
      body = validateChatBody(raw);
    } catch (err) {
      throw admission.fail(err, model, stream);
    }
    const bytes = request.rawBody ?? Buffer.from(JSON.stringify(body));
    if (stream) return streamCompletion(deps, admission, request, reply, bytes, model);
    return completion(deps, admission, reply, bytes, model);
  };
}

async function completion(deps: PipelineDeps, admission: Admission, reply: FastifyReply, bytes: Buffer, model: string) {
  const { context } = admission;
  const namespace = admission.cacheNamespace;
  try {
    const cached = await deps.clients.caching.lookup({ context, namespace, endpoint: ENDPOINT, body: bytes }).catch((err: unknown) => {
      deps.log.warn({ err, requestId: context.requestId }, 'cache lookup failed; calling the provider');
      return undefined;
    });
    if (cached?.hit) {
      admission.finish({ model, stream: false, httpStatus: 200, served: cached.served, usage: cached.usage, cacheHit: true });
      return reply
        .headers({ ...servedHeaders(cached.served), 'x-gateway-cache': 'hit', age: String(Math.floor(cached.ageMs / 1000)) })
        .type('application/json')
        .send(cached.body);
    }
    const result = await deps.clients.routing.complete({ context, endpoint: ENDPOINT, body: bytes });
    if (cached?.key) {
      deps.clients.caching
        .store({ context, namespace, key: cached.key, body: result.body, usage: result.usage, served: result.served })
        .catch((err: unknown) => deps.log.warn({ err, requestId: context.requestId }, 'cache store failed'));
    }
    admission.finish({ model, stream: false, httpStatus: 200, served: result.served, usage: result.usage });
    return reply
      .headers({ ...servedHeaders(result.served), 'x-gateway-cache': cached?.key ? 'miss' : 'skip' })
      .type('application/json')
      .send(result.body);
  } catch (err) {
    throw admission.fail(err, model, false);
  }
}

async function streamCompletion(deps: PipelineDeps, admission: Admission, request: FastifyRequest, reply: FastifyReply, bytes: Buffer, model: string) {
  const abort = new AbortController();
  const chunks = deps.clients.routing.completeStream({ context: admission.context, endpoint: ENDPOINT, body: bytes }, { signal: abort.signal });
  const iterator = chunks[Symbol.asyncIterator]();
  let served: Served | undefined;
  let usage: Usage | undefined;
  let first: IteratorResult<CompletionChunk>;
  try {
    // Nothing is sent until the provider accepted the request, so an early failure is a plain HTTP error.
    first = await iterator.next();
    if (first.value?.kind?.$case === 'start') served = first.value.kind.start.served;
  } catch (err) {
    throw admission.fail(err, model, true);
  }

  reply.hijack();
  const sse = new SseWriter(reply.raw);
  const clientGone = () => abort.abort();
  reply.raw.on('close', clientGone);
  sse.start({ ...(reply.getHeaders() as Record<string, string>), ...servedHeaders(served) });
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const kind = next.value.kind;
      if (kind?.$case === 'data') await sse.data(kind.data);
      else if (kind?.$case === 'end') usage = kind.end.usage;
      if (abort.signal.aborted) break;
    }
    if (abort.signal.aborted) {
      const error = new GatewayError('client_closed_request', 'The client closed the connection before the stream ended.');
      admission.finish({ model, stream: true, httpStatus: error.status, served, usage, error });
      return;
    }
    await sse.done();
    admission.finish({ model, stream: true, httpStatus: 200, served, usage });
  } catch (err) {
    const error = asGatewayError(err);
    request.log.warn({ code: error.code, reason: error.message, err: error.code === 'internal_error' ? err : undefined }, 'stream failed after it began');
    admission.finish({ model, stream: true, httpStatus: error.status, served, usage, error });
    await sse.fail(error.toOpenAI());
  } finally {
    reply.raw.off('close', clientGone);
    void iterator.return?.();
  }
}
