import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StoredReply } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

/** A list's `limit` query parameter: a whole number from 1 to max, 0 when absent (routing's default). */
export function limitOf(limit: string | undefined, max: number): number {
  if (limit === undefined) return 0;
  const n = Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new GatewayError('invalid_request', `Invalid 'limit': expected a whole number from 1 to ${max}.`, { param: 'limit' });
  return n;
}

/**
 * A route answered from what routing keeps for the caller's tenant (stored responses, files, batches): admitted like
 * /v1/models (the key checked, nothing charged), recorded under its endpoint name, answered with routing's reply.
 */
export function storedEndpoint(deps: PipelineDeps, endpoint: string, call: (request: FastifyRequest, inbound: InboundRequest) => Promise<StoredReply>) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const inbound = new InboundRequest(deps, request, reply, endpoint);
    try {
      await inbound.admit('');
      const answer = await call(request, inbound);
      await inbound.finish({ model: '', stream: false, httpStatus: 200 });
      return reply.type(answer.contentType || 'application/json').send(Buffer.from(answer.body));
    } catch (err) {
      throw inbound.fail(err, '', false);
    }
  };
}
