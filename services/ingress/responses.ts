import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../kit/errors.js';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

/** The stored-response routes of the Responses API: path below /responses → routing's action. */
export const STORED_RESPONSE_ROUTES = [
  { method: 'GET', path: '/responses/:id', action: 'retrieve' },
  { method: 'DELETE', path: '/responses/:id', action: 'delete' },
  { method: 'GET', path: '/responses/:id/input_items', action: 'input_items' },
] as const;

function limitOf(limit: string | undefined): number {
  if (limit === undefined) return 0;
  const n = Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new GatewayError('invalid_request', "Invalid 'limit': expected a whole number from 1 to 100.", { param: 'limit' });
  return n;
}

/**
 * GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items: a
 * response routing stored, read or deleted by a key of the tenant that made it
 * (any other key is told it does not exist). Admitted like /v1/models: the key
 * is checked, nothing is charged.
 */
export function storedResponse(deps: PipelineDeps, action: (typeof STORED_RESPONSE_ROUTES)[number]['action']) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const inbound = new InboundRequest(deps, request, reply, `responses.${action}`);
    try {
      await inbound.admit('');
      const { id } = request.params as { id: string };
      const query = (request.query ?? {}) as { after?: string; limit?: string; order?: string };
      const answer = await deps.clients.routing.storedResponse({
        context: inbound.context,
        id,
        action,
        after: query.after ?? '',
        limit: limitOf(query.limit),
        order: query.order ?? '',
      });
      await inbound.finish({ model: '', stream: false, httpStatus: 200 });
      return reply.type('application/json').send(answer.body);
    } catch (err) {
      throw inbound.fail(err, '', false);
    }
  };
}
