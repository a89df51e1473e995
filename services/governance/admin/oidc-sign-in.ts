import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { jwtVerify, type JWTPayload } from 'jose';
import type { BrowserSignIn, Principal, SignInRefusal } from '../../kit/admin.js';
import type { Logger } from '../../kit/log.js';
import type { Secret } from '../../kit/secrets/store.js';
import type { SsoConfig } from '../config.js';
import type { AdminSessionStore } from './sessions.js';
import { principalOf, type IssuerMetadata } from './sso.js';

/** A refusal, thrown from anywhere in the callback and turned into finish()'s answer. */
export class Refused extends Error {
  constructor(
    readonly refusal: SignInRefusal,
    reason: string,
  ) {
    super(reason);
  }
}

const random = () => randomBytes(32).toString('base64url');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The console's sign-in at the OpenID Connect issuer of governance.sso:
 * authorization code with PKCE (S256), state and nonce. Each start draws a
 * fresh state, nonce and verifier that the browser keeps in an HTTP-only
 * cookie (the admin server sets it), so the callback needs no server-side
 * record and any replica or worker can finish it. The code is exchanged with
 * the verifier and the client's credentials; the ID token is verified against
 * the issuer's keys (issuer, audience, expiry, nonce) and its claims mapped to
 * a role as SSO tokens' are.
 */
export class OidcSignIn implements BrowserSignIn {
  constructor(
    private readonly config: SsoConfig,
    private readonly issuer: IssuerMetadata,
    private readonly clientSecret: Secret,
    private readonly sessions: AdminSessionStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<{ location: string; pending: string }> {
    const { authorizationEndpoint } = await this.issuer.get();
    if (!authorizationEndpoint) throw new Error(`the discovery document of ${this.config.issuer} has no authorization_endpoint`);
    const [state, nonce, verifier] = [random(), random(), random()];
    const url = new URL(authorizationEndpoint);
    const { clientId, redirectUrl, scopes } = this.config.console;
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUrl,
      scope: scopes.join(' '),
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(name, value);
    return { location: url.href, pending: `${state}.${nonce}.${verifier}` };
  }

  async finish(query: Record<string, string | undefined>, pending: string | undefined) {
    try {
      const session = await this.sessions.openFor(await this.principal(query, pending));
      return { session };
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.log.info({ refusal: err.refusal, reason: err.message }, 'console sign-in with OpenID Connect refused');
      return { refused: err.refusal, reason: err.message };
    }
  }

  private async principal(query: Record<string, string | undefined>, pending: string | undefined): Promise<Principal> {
    const [state, nonce, verifier] = pending?.split('.') ?? [];
    // The state binds the answer to this browser's start: a code pasted into another browser, or a forged link, opens nothing.
    if (!state || !nonce || !verifier || !query.state || !sameText(query.state, state))
      throw new Refused('state', 'OpenID Connect callback with a state this browser did not start');
    // RFC 9207: an answer naming another issuer was not this provider's (a mix-up).
    if (query.iss !== undefined && query.iss !== this.config.issuer) throw new Refused('state', 'OpenID Connect callback from another issuer');
    if (query.error) throw new Refused('denied', `identity provider answered ${query.error.replace(/[^\w.-]/g, '').slice(0, 64)}`);
    if (!query.code) throw new Refused('denied', 'OpenID Connect callback without a code');
    const idToken = await this.exchange(query.code, verifier);
    return this.verify(idToken, nonce);
  }

  /** The ID token the code is worth at the token endpoint, asked with the PKCE verifier and the client's credentials. */
  private async exchange(code: string, verifier: string): Promise<string> {
    let answer: { id_token?: string; error?: string };
    let status: number;
    try {
      const { tokenEndpoint } = await this.issuer.get();
      if (!tokenEndpoint) throw new Error('no token_endpoint in the discovery document');
      const { clientId, redirectUrl } = this.config.console;
      const basic = `${encodeURIComponent(clientId)}:${encodeURIComponent(this.clientSecret.value)}`;
      const response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(basic).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUrl, code_verifier: verifier }),
      });
      status = response.status;
      answer = (await response.json().catch(() => ({}))) as typeof answer;
    } catch (err) {
      throw new Refused('unavailable', `token endpoint unreachable: ${(err as Error).message}`);
    }
    if (status !== 200 || typeof answer.id_token !== 'string')
      throw new Refused('token', `token endpoint answered ${status}${answer.error ? ` ${String(answer.error).slice(0, 64)}` : ''} with no ID token`);
    return answer.id_token;
  }

  /** The principal an ID token stands for, once its signature, issuer, audience, expiry and nonce are checked. */
  async verify(idToken: string, nonce: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      payload = (
        await jwtVerify(idToken, (await this.issuer.get()).keys, {
          issuer: this.config.issuer,
          audience: this.config.console.clientId,
          clockTolerance: this.config.clockToleranceSeconds,
          requiredClaims: ['exp', 'iat', 'sub'],
        })
      ).payload;
    } catch (err) {
      throw new Refused('token', `ID token refused: ${(err as Error).message}`);
    }
    if (typeof payload.nonce !== 'string' || !sameText(payload.nonce, nonce)) throw new Refused('token', 'ID token refused: its nonce is not this sign-in’s');
    // Issued to several audiences, the token must name this client as the one it was issued to (OpenID Connect Core 3.1.3.7).
    if (payload.azp !== undefined && payload.azp !== this.config.console.clientId)
      throw new Refused('token', 'ID token refused: issued to another client (azp)');
    const principal = principalOf(this.config, payload);
    if (!principal) throw new Refused('role', `no role mapping for ${this.config.roleClaim} of ${String(payload.sub)}`);
    return principal;
  }
}
