import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../kit/errors.js';

/** Headers a page's script may read from an answer: the request's id and what served it (pipeline.ts, cache.ts). */
const EXPOSED = 'x-request-id, x-gateway-model, x-gateway-provider, x-gateway-deployment, x-gateway-cache';

/**
 * CORS for pages that call the API from a browser with a key they hold (the console's first request, docs/console.md):
 * only the allowed origins, and never with credentials, since the API takes none from the browser (a key travels in
 * Authorization, which a page can only add after a preflight this answers). A request whose Origin is not allowed is
 * refused before it is read, so a page the browser would not let read the answer cannot have it run either.
 */
export function registerCors(app: FastifyInstance, allowed: ReadonlySet<string>): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (!allowed.has(origin))
      throw new GatewayError('origin_not_allowed', `Requests from web pages at ${origin} are not allowed: see ingress.cors.allowedOrigins.`);
    void reply.header('access-control-allow-origin', origin).header('vary', 'origin').header('access-control-expose-headers', EXPOSED);
  });
  // A preflight from an allowed origin (the hook refused the others): any header the page asks for, since none carries
  // a credential the browser adds by itself.
  app.options('*', async (request, reply) => {
    const asked = request.headers['access-control-request-headers'];
    return reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST, DELETE')
      .header('access-control-allow-headers', typeof asked === 'string' ? asked : '')
      .header('access-control-max-age', '600')
      .send();
  });
}
