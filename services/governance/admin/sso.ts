import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from '../../kit/log.js';
import type { SsoConfig } from '../config.js';
import type { Principal } from '../../kit/admin.js';

/** A token that looks like a JWT (three base64url parts); anything else is a static admin token. */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

/**
 * Admin sign-in with an identity provider's tokens: ID or access tokens (JWTs)
 * verified against the provider's JWKS, found through OpenID Connect discovery,
 * with issuer, audience and expiry checked; a claim (groups by default) maps to
 * a role. Keys are cached and re-fetched when the provider rotates them.
 */
export class OidcAuthenticator {
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(
    private readonly config: SsoConfig,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return Boolean(this.config.issuer);
  }

  /** Whether the token is one for this authenticator (SSO is on and it looks like a JWT) rather than a static admin token. */
  accepts(token: string): boolean {
    return this.enabled && looksLikeJwt(token);
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    let payload: JWTPayload;
    try {
      payload = (
        await jwtVerify(token, await this.keys(), {
          issuer: this.config.issuer,
          audience: this.config.audience,
          clockTolerance: this.config.clockToleranceSeconds,
          requiredClaims: ['exp'],
        })
      ).payload;
    } catch (err) {
      this.log.info({ reason: (err as Error).message }, 'SSO token refused');
      return undefined;
    }
    const claim = payload[this.config.roleClaim];
    const values = Array.isArray(claim) ? claim.map(String) : claim === undefined ? [] : [String(claim)];
    const mapping = this.config.roleMappings.find((m) => values.includes(m.value));
    if (!mapping) {
      this.log.info({ subject: payload.sub }, 'SSO token has no role mapping; refused');
      return undefined;
    }
    const name = String(payload[this.config.nameClaim] ?? payload.sub ?? 'unknown');
    return { name, role: mapping.role, customer: mapping.customer, team: mapping.team };
  }

  /** The provider's key set, located once through discovery. */
  private async keys(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return this.jwks;
    const discovery = `${this.config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await fetch(discovery);
    if (!response.ok) throw new Error(`OpenID discovery at ${discovery} answered ${response.status}`);
    const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: string };
    if (!jwksUri) throw new Error(`OpenID discovery at ${discovery} has no jwks_uri`);
    this.jwks = createRemoteJWKSet(new URL(jwksUri));
    return this.jwks;
  }
}
