import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { callerView, type AdminSessions, type BrowserSignIn } from '../kit/admin.js';
import { GatewayError } from '../kit/errors.js';
import { SESSION_COOKIE, sessionCookie, setSessionCookie } from './cookies.js';
import { oidcSignInRoutes } from './oidc.js';

/**
 * The console: a single-page app bundled at build time (services/console/app,
 * `npm run build:console`) and served by the admin server under /console/,
 * with its sign-in and sign-out. The page holds no credential: signing in
 * with an admin token, or at the identity provider (oidc.ts), opens a
 * server-side session whose random id travels in an HTTP-only cookie, and the
 * admin API takes that cookie as it takes a bearer token (admin-api.ts).
 */

/** Sent by the console on every call: a cross-site page cannot add it without a CORS preflight, which the admin server never grants. */
export const CSRF_HEADER = 'x-gateway-console';

/** A change made by cookie must come from the console itself: the browser sends cookies with requests other sites make. */
export function requireConsoleHeader(request: FastifyRequest): void {
  if (['GET', 'HEAD', 'OPTIONS'].includes(request.method) || request.headers[CSRF_HEADER] === '1') return;
  throw new GatewayError('admin_forbidden', `A change made with a console session must carry the header ${CSRF_HEADER}: 1.`);
}

/** Where `npm run build:console` put the bundle: dist/console, seen from the sources (tsx) or from dist/services. */
function bundleDir(): string {
  const candidates = ['../../dist/console', '../../console'].map((up) => fileURLToPath(new URL(up, import.meta.url)));
  return candidates.find((dir) => existsSync(join(dir, 'main.js'))) ?? candidates[0]!;
}

const ASSETS: Record<string, string> = { 'main.js': 'text/javascript; charset=utf-8', 'main.css': 'text/css; charset=utf-8' };

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AI gateway console</title>
<link rel="stylesheet" href="assets/main.css">
<script type="module" src="assets/main.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`;

/** Everything from this origin only (and calls to the API's, for the first request): no inline script, no CDN, no framing. */
const securityHeaders = (api = '') => ({
  'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${api && ` ${api}`}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
});

/** Where the console's first request finds the API: the configured address, or ingress's port in this process. */
export interface ConsoleIngress {
  url: string;
  port: number | undefined;
}

/** A host name or IP address, nothing a header could smuggle into the policy above. */
const PLAIN_HOST = /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i;

/**
 * The API's address for a page opened at this request's address: the configured one, else the host the browser used
 * with ingress's port (so a console opened at localhost calls localhost); none when ingress runs elsewhere unconfigured.
 */
function ingressUrlFor(request: FastifyRequest, ingress: ConsoleIngress): string | undefined {
  if (ingress.url) return ingress.url.replace(/\/+$/, '');
  if (ingress.port === undefined || !PLAIN_HOST.test(request.hostname)) return undefined;
  return `${request.protocol}://${request.hostname}:${ingress.port}`;
}

export interface ConsoleOptions {
  sessions: AdminSessions;
  browserSignIn: BrowserSignIn | undefined;
  /** Records a refused sign-in as the admin API records every refused credential. */
  audit: (request: FastifyRequest, reason: string) => void;
  /** Audits a refused sign-in, and throws the admin API's answer to it. */
  refuse: (request: FastifyRequest, reason: string) => never;
  ingress: ConsoleIngress;
}

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, { sessions, browserSignIn, audit, refuse, ingress }) => {
  const dir = bundleDir();
  const hide = { hide: true };

  app.get('/console', { config: { requires: 'no_token' }, schema: hide }, async (_request, reply) => reply.redirect('/console/'));
  app.get('/console/', { config: { requires: 'no_token' }, schema: hide }, async (request, reply) => {
    if (!existsSync(join(dir, 'main.js'))) throw new GatewayError('service_unavailable', 'The console is not built: run npm run build.');
    const api = ingressUrlFor(request, ingress);
    return reply
      .headers(securityHeaders(api && new URL(api).origin))
      .type('text/html; charset=utf-8')
      .send(PAGE);
  });
  app.get<{ Params: { file: string } }>('/console/assets/:file', { config: { requires: 'no_token' }, schema: hide }, async (request, reply) => {
    const type = ASSETS[request.params.file];
    if (!type) throw new GatewayError('not_found', `No console file ${request.params.file}.`);
    return reply
      .headers(securityHeaders())
      .type(type)
      .send(await readFile(join(dir, request.params.file)));
  });

  app.post<{ Body: { token: string } }>(
    '/admin/session',
    {
      config: { requires: 'no_token' },
      schema: {
        tags: ['admin'],
        summary: `Sign in to the console with an admin token: sets the HTTP-only ${SESSION_COOKIE} cookie, taken by every route instead of a bearer token (changes also need ${CSRF_HEADER}: 1)`,
        security: [],
        body: { type: 'object', additionalProperties: false, required: ['token'], properties: { token: { type: 'string', minLength: 1, maxLength: 8192 } } },
      },
    },
    async (request, reply) => {
      requireConsoleHeader(request);
      const opened = await sessions.open(request.body.token);
      if (!opened) return refuse(request, 'invalid credential');
      setSessionCookie(request, reply, opened.id, Math.floor((opened.expiresAt.getTime() - Date.now()) / 1000));
      return { ...callerView(opened.principal), expires_at: opened.expiresAt.toISOString() };
    },
  );
  app.get(
    '/admin/session/options',
    {
      config: { requires: 'no_token' },
      schema: { tags: ['admin'], summary: 'How the console may sign in: with a token always; with the identity provider when configured', security: [] },
    },
    async () => ({ token: true, oidc: browserSignIn !== undefined }),
  );
  app.get(
    '/admin/console/ingress',
    {
      config: { requires: 'any_role' },
      schema: {
        tags: ['admin'],
        summary: "The API's address the console's first request calls and its snippets show (governance.console.ingressUrl); null when unknown",
      },
    },
    async (request) => ({ url: ingressUrlFor(request, ingress) ?? null }),
  );
  if (browserSignIn) await app.register(oidcSignInRoutes, { signIn: browserSignIn, audit });
  app.delete(
    '/admin/session',
    { config: { requires: 'any_role' }, schema: { tags: ['admin'], summary: 'Sign out of the console: ends the session of the cookie sent' } },
    async (request, reply) => {
      const id = sessionCookie(request);
      if (id) await sessions.close(id);
      setSessionCookie(request, reply, '', 0);
      return reply.code(204).send();
    },
  );
};
