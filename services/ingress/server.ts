import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorBody, familyOf, type ApiFamily } from '../kit/api-errors.js';
import type { GatewayError } from '../kit/errors.js';
import { createHttpServer } from '../kit/http.js';
import { newTraceId } from '../kit/ids.js';
import { traceHttpServer } from '../kit/tracing-http.js';
import { modelEndpoint } from './api.js';
import { registerCors } from './cors.js';
import { registerUploads } from './uploads.js';
import { directEndpoint } from './direct.js';
import type { IngressConfig } from './config.js';
import { registerMcpRoutes } from './mcp.js';
import { registerBatchRoutes } from './batches.js';
import type { BatchRunner } from './batch-runner.js';
import { listModels } from './models.js';
import { registerOpenApi } from './openapi.js';
import { registerPassthrough } from './passthrough.js';
import { refuse, type InboundRequest, type PipelineDeps } from './pipeline.js';
import { STORED_RESPONSE_ROUTES, storedResponse } from './responses.js';
import { bodySchemas, validationError, validatorOptions } from './validation.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request on its way through the gateway, once a handler or the error handler made it. */
    inbound: InboundRequest | null;
  }
  interface FastifyContextConfig {
    /** Which API's error shape this route answers errors in. */
    family?: ApiFamily;
    /** The endpoint name recorded for the route's requests. */
    endpoint?: string;
  }
}

/** Inbound model endpoints: path (also served without /v1) → endpoint name routing knows. */
const MODEL_ENDPOINTS: { path: string; endpoint: string }[] = [
  { path: '/chat/completions', endpoint: 'chat.completions' },
  { path: '/completions', endpoint: 'completions' },
  { path: '/embeddings', endpoint: 'embeddings' },
  { path: '/responses', endpoint: 'responses' },
  { path: '/messages', endpoint: 'messages' },
];

/** Endpoints answered by one call (direct.ts), free at the providers or billed by unit: path → endpoint name. */
const DIRECT_ENDPOINTS: { path: string; endpoint: string }[] = [
  { path: '/messages/count_tokens', endpoint: 'messages.count_tokens' },
  { path: '/moderations', endpoint: 'moderations' },
  { path: '/images/generations', endpoint: 'images.generations' },
  { path: '/rerank', endpoint: 'rerank' },
  { path: '/audio/speech', endpoint: 'audio.speech' },
];

/** The public API: OpenAI-compatible and Anthropic-compatible, every route also without the /v1 prefix, described at /openapi.json. */
export async function buildIngressApp(
  config: IngressConfig & { consoleOrigins: string[] },
  batches: BatchRunner,
  deps: PipelineDeps,
): Promise<FastifyInstance> {
  const familyOfRequest = (request: FastifyRequest) => request.routeOptions.config.family ?? 'openai';
  const app = createHttpServer({
    log: deps.log,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    maxJsonDepth: config.limits.maxJsonDepth,
    ajv: validatorOptions,
    render: (error, request) => errorBody(familyOfRequest(request), error),
    validationError: (errors, _context, request) => validationError(errors, familyOfRequest(request)),
    onError: (error, request, reply) => refuse(deps, request, reply, error),
    onClientError: (error, client) => recordUnreadable(deps, error, client),
  });
  app.decorateRequest('inbound', null);
  traceHttpServer(app);
  registerCors(app, new Set([...config.cors.allowedOrigins, ...config.consoleOrigins]));
  await registerOpenApi(app);

  const schemas = bodySchemas(config.limits);
  for (const prefix of ['/v1', '']) {
    for (const { path, endpoint } of MODEL_ENDPOINTS) {
      app.post(`${prefix}${path}`, { config: { family: familyOf(endpoint), endpoint }, schema: { body: schemas[endpoint] } }, modelEndpoint(deps, endpoint));
    }
    for (const { path, endpoint } of DIRECT_ENDPOINTS) {
      app.post(`${prefix}${path}`, { config: { family: familyOf(endpoint), endpoint }, schema: { body: schemas[endpoint] } }, directEndpoint(deps, endpoint));
    }
    app.get(`${prefix}/models`, { config: { endpoint: 'models' } }, listModels(deps));
    for (const { method, path, action } of STORED_RESPONSE_ROUTES) {
      app.route({ method, url: `${prefix}${path}`, config: { endpoint: `responses.${action}` }, handler: storedResponse(deps, action) });
    }
  }
  // Cohere's SDK (CohereClientV2.rerank) sends its rerank to /v2/rerank.
  app.post('/v2/rerank', { config: { family: 'openai', endpoint: 'rerank' }, schema: { body: schemas.rerank } }, directEndpoint(deps, 'rerank'));
  registerUploads(app, config, deps, schemas);
  registerBatchRoutes(app, deps, batches);
  registerMcpRoutes(app, deps);
  registerPassthrough(app, deps);
  return app;
}

/** Bytes that were not an HTTP request still leave a record, with the id their answer carried. */
function recordUnreadable(deps: PipelineDeps, error: GatewayError, client: { requestId: string; sourceAddress: string }): void {
  const context = { requestId: client.requestId, traceId: newTraceId(), actor: undefined, sourceAddress: client.sourceAddress };
  deps.recorder.record(context, performance.now(), false, { endpoint: '', model: '', httpStatus: error.status, stream: false, error });
}
