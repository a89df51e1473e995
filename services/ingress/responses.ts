import type { FastifyRequest } from 'fastify';
import type { PipelineDeps } from './pipeline.js';
import { limitOf, storedEndpoint } from './stored.js';

/** The stored-response routes of the Responses API: path below /responses → routing's action. */
export const STORED_RESPONSE_ROUTES = [
  { method: 'GET', path: '/responses/:id', action: 'retrieve' },
  { method: 'DELETE', path: '/responses/:id', action: 'delete' },
  { method: 'GET', path: '/responses/:id/input_items', action: 'input_items' },
] as const;

/**
 * GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items: a
 * response routing stored, read or deleted by a key of the tenant that made it
 * (any other key is told it does not exist).
 */
export function storedResponse(deps: PipelineDeps, action: (typeof STORED_RESPONSE_ROUTES)[number]['action']) {
  return storedEndpoint(deps, `responses.${action}`, async (request: FastifyRequest, inbound) => {
    const { id } = request.params as { id: string };
    const query = (request.query ?? {}) as { after?: string; limit?: string; order?: string };
    const answer = await deps.clients.routing.storedResponse({
      context: inbound.context,
      id,
      action,
      after: query.after ?? '',
      limit: limitOf(query.limit, 100),
      order: query.order ?? '',
    });
    return { body: answer.body, contentType: '' };
  });
}
