import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from '../../kit/log.js';
import type { SsoConfig } from '../config.js';
import type { Principal } from '../../kit/admin.js';

/** A token that looks like a JWT (three base64url parts); anything else is a static admin token. */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * What the issuer's OpenID Connect discovery document says, fetched once:
 * its key set (cached by jose, re-fetched when the provider rotates keys) and
 * endpoints. A failed fetch is not kept, so the next use tries again.
 */
export class IssuerMetadata {
  private found: Promise<{ keys: KeySet; authorizationEndpoint?: string; tokenEndpoint?: string }> | undefined;

  constructor(private readonly issuer: string) {}

  async get() {
    this.found ??= this.discover().catch((err: unknown) => {
      this.found = undefined;
      throw err;
    });
    return this.found;
  }

  private async discover() {
    const discovery = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await fetch(discovery);
    if (!response.ok) throw new Error(`OpenID discovery at ${discovery} answered ${response.status}`);
    const document = (await response.json()) as { jwks_uri?: string; authorization_endpoint?: string; token_endpoint?: string };
    if (!document.jwks_uri) throw new Error(`OpenID discovery at ${discovery} has no jwks_uri`);
    return {
      keys: createRemoteJWKSet(new URL(document.jwks_uri)),
      authorizationEndpoint: document.authorization_endpoint,
      tokenEndpoint: document.token_endpoint,
    };
  }
}

/** The principal an identity provider's verified claims map to, or undefined when no mapping matches (the first one that does wins). */
export function principalOf(config: SsoConfig, payload: JWTPayload): Principal | undefined {
  const claim = payload[config.roleClaim];
  const values = Array.isArray(claim) ? claim.map(String) : claim === undefined ? [] : [String(claim)];
  const mapping = config.roleMappings.find((m) => values.includes(m.value));
  if (!mapping) return undefined;
  const name = String(payload[config.nameClaim] ?? payload.sub ?? 'unknown');
  return { name, role: mapping.role, customer: mapping.customer, team: mapping.team };
}

/**
 * Admin sign-in with an identity provider's tokens: ID or access tokens (JWTs)
 * verified against the provider's JWKS, found through OpenID Connect discovery,
 * with issuer, audience and expiry checked; a claim (groups by default) maps to
 * a role.
 */
export class OidcAuthenticator {
  constructor(
    private readonly config: SsoConfig,
    private readonly issuer: IssuerMetadata,
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
        await jwtVerify(token, (await this.issuer.get()).keys, {
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
    const principal = principalOf(this.config, payload);
    if (!principal) this.log.info({ subject: payload.sub }, 'SSO token has no role mapping; refused');
    return principal;
  }
}
