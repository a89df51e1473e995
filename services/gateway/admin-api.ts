import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditAdminRoutes } from '../audit/admin-routes.js';
import { retentionAdminRoutes } from '../audit/retention-routes.js';
import { cachingAdminRoutes } from '../caching/admin-routes.js';
import { sessionCookie } from '../console/cookies.js';
import { consoleRoutes, requireConsoleHeader, type ConsoleIngress } from '../console/server.js';
import { requirePermission, type AdminAuthority, type RecordChange } from '../kit/admin.js';
import type { EventPublisher } from '../kit/bus/publisher.js';
import { GatewayError } from '../kit/errors.js';
import { adminEvent, authFailedEvent } from '../kit/events.js';
import { bearerToken, createHttpServer } from '../kit/http.js';
import type { Logger } from '../kit/log.js';
import type { Clients } from '../kit/service.js';
import { meteringAdminRoutes } from '../metering/admin-routes.js';
import { routingAdminRoutes } from '../routing/admin-routes.js';

/** Admin events and refused sign-ins are governance's: its admins are the callers. */
const SERVICE = 'governance';

/**
 * The admin REST API, documented with OpenAPI at /docs, and the console at
 * /console/, served where governance runs. Each caller is authenticated (by
 * bearer token or console session), and the role its route requires checked,
 * here and only here; every service's admin routes are mounted on it, each
 * given its service (the object itself in this process, else its gRPC client).
 */
export async function buildAdminApi(
  authority: AdminAuthority,
  clients: Clients,
  events: EventPublisher,
  log: Logger,
  ingress: ConsoleIngress,
): Promise<FastifyInstance> {
  const app = createHttpServer({ log, bodyLimit: 256 * 1024 });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'AI gateway admin API',
        version: '1',
        description:
          'Customers, teams, virtual keys, budgets, providers and models, audit and spend reports, the response cache, MCP servers. Every route needs Authorization: Bearer <admin token or SSO token>, or the session cookie of a console sign-in (POST /admin/session).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Added after the docs' routes: every other route must say what it requires, or the server does not start.
  app.addHook('onRoute', (route) => {
    if (!route.config?.requires) throw new Error(`admin route ${route.method} ${route.url} does not say what it requires (config.requires)`);
  });

  // Refused credentials are audited: who tried (by address), where, and why (never the token).
  const audit = (request: FastifyRequest, reason: string): void =>
    events.emit(
      authFailedEvent(
        { service: SERVICE, context: { requestId: request.id, traceId: '', actor: undefined, sourceAddress: request.ip } },
        { surface: 'admin_api', reason, target: `${request.method} ${request.url.split('?')[0]}` },
      ),
    );
  const refuse = (request: FastifyRequest, reason: string): never => {
    audit(request, reason);
    throw new GatewayError('admin_unauthorized', 'A valid admin token is required: send Authorization: Bearer <token>, or sign in to the console.');
  };

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.requires === 'no_token' || request.url === '/docs' || request.url.startsWith('/docs/')) return;
    const token = bearerToken(request.headers.authorization);
    // A bearer token wins; without one, the console's session cookie stands for the admin who signed in.
    const session = token ? undefined : sessionCookie(request);
    if (session) requireConsoleHeader(request);
    const principal = token ? await authority.authenticate(token) : session ? await authority.sessions.find(session) : undefined;
    if (!principal) refuse(request, token || session ? 'invalid credential' : 'missing credential');
    request.principal = principal;
  });

  // After validation, before the handler: a malformed call is a 400 whoever makes it, and handlers run only for callers their route admits.
  app.addHook('preHandler', async (request) => {
    const requires = request.routeOptions.config.requires;
    if (requires && requires !== 'no_token' && requires !== 'any_role') requirePermission(request.principal!, requires);
  });

  const record: RecordChange = (who, resource, action, id, before, after) =>
    events.emit(
      adminEvent(
        `admin.${resource}.${action}`,
        { service: SERVICE, actor: { keyId: '', keyName: '', teamId: who.team ?? '', customerId: who.customer ?? '', admin: `${who.name} (${who.role})` } },
        {
          action,
          resource,
          resourceId: id,
          beforeJson: before ? JSON.stringify(before) : '',
          afterJson: after ? JSON.stringify(after) : '',
        },
      ),
    );

  await app.register(consoleRoutes, { sessions: authority.sessions, browserSignIn: authority.browserSignIn, audit, refuse, ingress });
  await app.register(authority.routes, { record });
  await app.register(routingAdminRoutes, { routing: clients.routing, record });
  await app.register(auditAdminRoutes, { audit: clients.audit });
  await app.register(retentionAdminRoutes, { audit: clients.audit, record });
  await app.register(meteringAdminRoutes, { metering: clients.metering });
  await app.register(cachingAdminRoutes, { caching: clients.caching, placements: authority.placements, record });
  return app;
}
