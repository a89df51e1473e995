import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OIDC_CALLBACK_PATH, type BrowserSignIn, type SignInRefusal } from '../kit/admin.js';
import { cookie, setCookie, setSessionCookie } from './cookies.js';

/** Holds the sign-in's state, nonce and PKCE verifier while the browser is at the identity provider. */
const PENDING_COOKIE = 'gateway_oidc';
/** Long enough to sign in at the provider, short enough that a forgotten tab's cookie soon goes. */
const PENDING_SECONDS = 600;

/**
 * The console's sign-in at the identity provider: start sends the browser
 * there, the callback opens a session with what it sends back. The pending
 * cookie is SameSite=Lax, since the provider's redirect back is a cross-site
 * navigation that a Strict cookie would not ride; it is sent to the callback
 * only, and cleared there whatever the outcome. Refusals are audited as
 * refused sign-ins and shown on the sign-in page by a code, never with the
 * provider's words or any token.
 */
export const oidcSignInRoutes: FastifyPluginAsync<{ signIn: BrowserSignIn; audit: (request: FastifyRequest, reason: string) => void }> = async (
  app,
  { signIn, audit },
) => {
  const setPending = (request: FastifyRequest, reply: FastifyReply, value: string, maxAge: number) =>
    setCookie(request, reply, `${PENDING_COOKIE}=${value}`, `Path=${OIDC_CALLBACK_PATH}; SameSite=Lax; Max-Age=${maxAge}`);
  const backToSignIn = (reply: FastifyReply, refusal: SignInRefusal) => reply.redirect(`/console/?sign_in_error=${refusal}`);
  const schema = { tags: ['admin'], security: [] };

  app.get(
    '/admin/session/oidc/start',
    { config: { requires: 'no_token' }, schema: { ...schema, summary: 'Console sign-in with OpenID Connect: redirects the browser to the identity provider' } },
    async (request, reply) => {
      void reply.header('cache-control', 'no-store');
      let started: Awaited<ReturnType<BrowserSignIn['start']>>;
      try {
        started = await signIn.start();
      } catch (err) {
        request.log.warn({ err }, 'the identity provider cannot be reached for a console sign-in');
        return backToSignIn(reply, 'unavailable');
      }
      setPending(request, reply, started.pending, PENDING_SECONDS);
      return reply.redirect(started.location);
    },
  );

  app.get(
    OIDC_CALLBACK_PATH,
    {
      config: { requires: 'no_token' },
      schema: { ...schema, summary: 'Where the identity provider sends the browser back: opens a console session and redirects to the console' },
    },
    async (request, reply) => {
      void reply.header('cache-control', 'no-store');
      // Single use: whatever happens, this sign-in's state cannot be replayed.
      setPending(request, reply, '', 0);
      const query: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(request.query as Record<string, unknown>)) if (typeof value === 'string') query[name] = value;
      const result = await signIn.finish(query, cookie(request, PENDING_COOKIE));
      if ('refused' in result) {
        audit(request, `console sign-in refused: ${result.reason}`);
        return backToSignIn(reply, result.refused);
      }
      setSessionCookie(request, reply, result.session.id, Math.floor((result.session.expiresAt.getTime() - Date.now()) / 1000));
      return reply.redirect('/console/');
    },
  );
};
