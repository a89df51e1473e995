import type { FastifyReply, FastifyRequest } from 'fastify';

/** The console's cookies: its session's, and the sign-in at the identity provider's while it is under way. */

export const SESSION_COOKIE = 'gateway_session';

/** The value of one of the request's cookies, if any. */
export function cookie(request: FastifyRequest, wanted: string): string | undefined {
  for (const part of request.headers.cookie?.split(';') ?? []) {
    const [name, ...value] = part.trim().split('=');
    if (name === wanted && value.length > 0) return value.join('=') || undefined;
  }
  return undefined;
}

/** The id in the request's session cookie, if any. */
export const sessionCookie = (request: FastifyRequest) => cookie(request, SESSION_COOKIE);

/** An HTTP-only cookie, Secure when the request came over TLS (Fastify adds it to any the reply already sets). */
export function setCookie(request: FastifyRequest, reply: FastifyReply, cookie: string, attributes: string): void {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  void reply.header('set-cookie', `${cookie}; ${attributes}; HttpOnly${secure}`);
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  setCookie(request, reply, `${SESSION_COOKIE}=${value}`, `Path=/; SameSite=Strict; Max-Age=${maxAgeSeconds}`);
}
