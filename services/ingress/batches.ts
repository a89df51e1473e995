import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PipelineDeps } from './pipeline.js';
import type { BatchRunner } from './batch-runner.js';
import { fileExpiry, type Schema } from './schemas/common.js';
import { limitOf, storedEndpoint } from './stored.js';

type Query = { after?: string; limit?: string; order?: string; purpose?: string };
const queryOf = (request: FastifyRequest) => (request.query ?? {}) as Query;
const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;

/** The body of POST /v1/batches (https://platform.openai.com/docs/api-reference/batch/create); routing checks the values. */
export const createBatchSchema: Schema = {
  type: 'object',
  required: ['input_file_id', 'endpoint', 'completion_window'],
  additionalProperties: false,
  properties: {
    input_file_id: { type: 'string', minLength: 1, maxLength: 256 },
    endpoint: { type: 'string', maxLength: 256 },
    completion_window: { type: 'string', maxLength: 16 },
    metadata: { type: ['object', 'null'], maxProperties: 16, additionalProperties: { type: 'string', maxLength: 512 } },
    output_expires_after: fileExpiry,
  },
};

/**
 * The Batch API's routes but the upload (uploads.ts): files listed, read and deleted, batches created, read, listed
 * and cancelled, each within the key's tenant (docs/routing.md#batches). A batch created here runs in the background:
 * `runner` is woken so it starts at once.
 */
export function registerBatchRoutes(app: FastifyInstance, deps: PipelineDeps, runner: BatchRunner): void {
  const routing = deps.clients.routing;
  for (const prefix of ['/v1', '']) {
    const route = (method: 'GET' | 'POST' | 'DELETE', path: string, endpoint: string, call: Parameters<typeof storedEndpoint>[2], schema?: Schema) =>
      app.route({
        method,
        url: `${prefix}${path}`,
        config: { endpoint },
        schema: schema ? { body: schema } : undefined,
        handler: storedEndpoint(deps, endpoint, call),
      });

    route('GET', '/files', 'files.list', (request, { context }) => {
      const { after = '', limit, order = '', purpose = '' } = queryOf(request);
      return routing.files({
        context,
        action: 'list',
        id: '',
        upload: undefined,
        purpose,
        after,
        limit: limitOf(limit, 10_000),
        order,
        expiresAfterSeconds: 0,
      });
    });
    for (const [method, path, action] of [
      ['GET', '/files/:id', 'retrieve'],
      ['GET', '/files/:id/content', 'content'],
      ['DELETE', '/files/:id', 'delete'],
    ] as const) {
      route(method, path, `files.${action}`, (request, { context }) =>
        routing.files({ context, action, id: idOf(request), upload: undefined, purpose: '', after: '', limit: 0, order: '', expiresAfterSeconds: 0 }),
      );
    }

    const batch = (action: string, context: Parameters<typeof routing.batches>[0]['context'], more = {}) =>
      routing.batches({ context, action, id: '', body: Buffer.alloc(0), keyHash: Buffer.alloc(0), after: '', limit: 0, ...more });
    route(
      'POST',
      '/batches',
      'batches.create',
      async (request, inbound) => {
        const answer = await batch('create', inbound.context, {
          body: request.rawBody ?? Buffer.from(JSON.stringify(request.body)),
          keyHash: inbound.key!.hash,
        });
        runner.wake();
        return answer;
      },
      createBatchSchema,
    );
    route('GET', '/batches', 'batches.list', (request, { context }) => {
      const { after = '', limit } = queryOf(request);
      return batch('list', context, { after, limit: limitOf(limit, 100) });
    });
    route('GET', '/batches/:id', 'batches.retrieve', (request, { context }) => batch('retrieve', context, { id: idOf(request) }));
    route('POST', '/batches/:id/cancel', 'batches.cancel', async (request, { context }) => {
      const answer = await batch('cancel', context, { id: idOf(request) });
      runner.wake();
      return answer;
    });
  }
}
