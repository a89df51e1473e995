import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CompletionRequest } from '../gen/gateway/v1/routing.js';
import { hintsOf, whole } from './api.js';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

/**
 * An endpoint that is free at the providers (Anthropic's count_tokens, OpenAI's
 * moderations): admitted like any request (the key, the model allowed for it,
 * its request limits), but with no prompt or output reserved against budgets;
 * routing answers it with zero usage, so its ledger row costs nothing. Never
 * streamed, never cached.
 */
export function directEndpoint(deps: PipelineDeps, endpoint: string) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const inbound = new InboundRequest(deps, request, reply, endpoint);
    const { model } = request.body as { model: string };
    let call: CompletionRequest;
    try {
      await inbound.admit(model);
      const body = request.rawBody ?? Buffer.from(JSON.stringify(request.body));
      call = { context: inbound.context, endpoint, body, hints: hintsOf(request), replay: undefined, keepAnswer: false, cache: undefined };
    } catch (err) {
      throw inbound.fail(err, model, false);
    }
    return whole(deps, inbound, reply, call, model);
  };
}
