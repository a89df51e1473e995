import type { FastifyInstance } from 'fastify';
import { errorBody, type ApiFamily } from '../kit/api-errors.js';
import { GatewayError } from '../kit/errors.js';
import { createHttpServer } from '../kit/http.js';
import { modelEndpoint } from './api.js';
import type { IngressConfig } from './config.js';
import { registerMcpRoutes } from './mcp.js';
import { listModels } from './models.js';
import type { PipelineDeps } from './pipeline.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body exactly as received, forwarded without re-serializing. */
    rawBody?: Buffer;
  }
  interface FastifyContextConfig {
    /** Which API's error shape this route answers errors in. */
    family?: ApiFamily;
  }
}

/** Inbound model endpoints: path (also served without /v1) → endpoint name routing knows. */
const MODEL_ENDPOINTS: { path: string; endpoint: string; family: ApiFamily }[] = [
  { path: '/chat/completions', endpoint: 'chat.completions', family: 'openai' },
  { path: '/completions', endpoint: 'completions', family: 'openai' },
  { path: '/embeddings', endpoint: 'embeddings', family: 'openai' },
  { path: '/responses', endpoint: 'responses', family: 'openai' },
  { path: '/messages', endpoint: 'messages', family: 'anthropic' },
];

/** The public API: OpenAI-compatible and Anthropic-compatible, every route also without the /v1 prefix. */
export function buildIngressApp(config: IngressConfig, deps: PipelineDeps): FastifyInstance {
  const app = createHttpServer({
    log: deps.log,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    render: (error, request) => errorBody(request.routeOptions.config.family ?? 'openai', error),
  });

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const buffer = body as Buffer;
    try {
      request.rawBody = buffer;
      done(null, JSON.parse(buffer.toString('utf8')));
    } catch (err) {
      done(new GatewayError('invalid_json', `We could not parse the JSON body of your request: ${(err as Error).message}`), undefined);
    }
  });

  for (const prefix of ['/v1', '']) {
    for (const { path, endpoint, family } of MODEL_ENDPOINTS) {
      app.post(`${prefix}${path}`, { config: { family } }, modelEndpoint(deps, endpoint));
    }
    app.get(`${prefix}/models`, listModels(deps));
  }
  registerMcpRoutes(app, deps);
  return app;
}
