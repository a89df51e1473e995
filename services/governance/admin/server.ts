import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { EventPublisher } from '../../kit/bus/publisher.js';
import type { Database } from '../../kit/db/types.js';
import { GatewayError } from '../../kit/errors.js';
import { authFailedEvent } from '../../kit/events.js';
import { bearerToken, createHttpServer } from '../../kit/http.js';
import type { Logger } from '../../kit/log.js';
import type { Directory } from '../store/directory.js';
import type { Principal } from './principals.js';
import type { Clients } from '../../kit/service.js';
import { registerCacheRoutes } from './cache-routes.js';
import { OAUTH_CALLBACK_PATH, registerMcpRoutes } from './mcp-routes.js';
import { registerReportRoutes } from './reports-routes.js';
import { registerRoutingRoutes, type CheckRouting } from './routing-routes.js';
import { registerRoutes } from './routes.js';

/** Turns a bearer token into a principal, or undefined when it is not one. */
export type Authenticate = (token: string) => Promise<Principal | undefined>;

/** The admin REST API, documented with OpenAPI at /docs. */
export async function buildAdminApi(options: {
  directory: Directory;
  events: EventPublisher;
  db: Database;
  authenticate: Authenticate;
  checkRouting: CheckRouting;
  clients: Clients;
  log: Logger;
}): Promise<FastifyInstance> {
  const app = createHttpServer({ log: options.log, bodyLimit: 256 * 1024 });
  await app.register(swagger, {
    openapi: {
      info: { title: 'AI gateway admin API', version: '1', description: 'Customers, teams, virtual keys, budgets, providers and models, audit and spend reports, the response cache, MCP servers. Every route needs Authorization: Bearer <admin token or SSO token>.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.addHook('onRequest', async (request) => {
    if (request.url === '/docs' || request.url.startsWith('/docs/') || request.url.split('?')[0] === OAUTH_CALLBACK_PATH) return;
    const token = bearerToken(request.headers.authorization);
    const principal = token ? await options.authenticate(token) : undefined;
    if (!principal) {
      // Refused sign-ins are audited: who tried (by address), where, and why (never the token).
      options.events.emit(
        authFailedEvent(
          { service: 'governance', context: { requestId: request.id, traceId: '', actor: undefined, sourceAddress: request.ip } },
          { surface: 'admin_api', reason: token ? 'invalid credential' : 'missing credential', target: `${request.method} ${request.url.split('?')[0]}` },
        ),
      );
      throw new GatewayError('admin_unauthorized', 'A valid admin token is required: send Authorization: Bearer <token>.');
    }
    request.principal = principal;
  });

  const record = registerRoutes(app, options);
  registerRoutingRoutes(app, options.directory, options.checkRouting, record);
  registerReportRoutes(app, options.clients);
  registerCacheRoutes(app, options.directory, options.clients, record);
  registerMcpRoutes(app, options.directory, options.clients, record);
  return app;
}
