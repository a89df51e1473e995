import type { FastifyReply, FastifyRequest } from 'fastify';
import { Admission, type PipelineDeps } from './pipeline.js';

const ENDPOINT = 'models';

/** GET /v1/models: the models clients can address, in the OpenAI list shape. */
export function listModels(deps: PipelineDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const admission = new Admission(deps, request, reply, ENDPOINT);
    try {
      await admission.admit('');
      const { models } = await deps.clients.routing.listModels({});
      await admission.finish({ model: '', stream: false, httpStatus: 200 });
      return { object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.ownedBy })) };
    } catch (err) {
      throw admission.fail(err, '', false);
    }
  };
}
