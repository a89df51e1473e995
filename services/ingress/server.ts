import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../kit/errors.js';
import { createHttpServer } from '../kit/http.js';
import { chatCompletions } from './chat.js';
import type { IngressConfig } from './config.js';
import { listModels } from './models.js';
import type { PipelineDeps } from './pipeline.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body exactly as received, forwarded without re-serializing. */
    rawBody?: Buffer;
  }
}

/** The public OpenAI-compatible API. Every route also answers without the /v1 prefix. */
export function buildIngressApp(config: IngressConfig, deps: PipelineDeps): FastifyInstance {
  const app = createHttpServer({ log: deps.log, bodyLimit: config.bodyLimitBytes, trustProxy: config.trustProxy });

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
    app.post(`${prefix}/chat/completions`, chatCompletions(deps));
    app.get(`${prefix}/models`, listModels(deps));
  }
  return app;
}
