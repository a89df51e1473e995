import type { FastifyReply, FastifyRequest } from 'fastify';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

const ENDPOINT = 'models';

/** GET /v1/models: the models the calling key may use (all when it is unrestricted), in the OpenAI list shape. */
export function listModels(deps: PipelineDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const inbound = new InboundRequest(deps, request, reply, ENDPOINT);
    try {
      await inbound.admit('');
      const { models } = await deps.clients.routing.listModels({});
      await inbound.finish({ model: '', stream: false, httpStatus: 200 });
      const usable = models.filter((m) => inbound.mayUse(m.id));
      return { object: 'list', data: usable.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.ownedBy })) };
    } catch (err) {
      throw inbound.fail(err, '', false);
    }
  };
}
