import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { freePort } from './infra.js';

export const ADMIN_AUDIENCE = 'https://gateway.test/admin';

export interface TestIdentityProvider {
  issuer: string;
  /** An access token for a client, from the provider's own token endpoint (client credentials grant). */
  token(clientId: 'ops-admins' | 'ops-viewers' | 'strangers'): Promise<string>;
  /** A token signed with the provider's real key but with claims of the test's choosing. */
  sign(claims: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real OpenID Connect provider (the certified `oidc-provider` package) on a
 * local port, issuing JWT access tokens for the admin API's audience. Each
 * client stands for a group of people: its tokens carry a `groups` claim.
 */
export async function startIdentityProvider(): Promise<TestIdentityProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const groups: Record<string, string[]> = { 'ops-admins': ['gateway-admins'], 'ops-viewers': ['gateway-viewers'], strangers: ['marketing'] };
  const provider = new Provider(issuer, {
    clients: Object.keys(groups).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    jwks: { keys: [jwk] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => ADMIN_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'admin', audience: ADMIN_AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 600 }),
      },
    },
    ttl: { ClientCredentials: 600 },
    extraTokenClaims: (_ctx, token) => ({
      groups: groups[(token as { clientId?: string }).clientId ?? ''] ?? [],
      email: `${(token as { clientId?: string }).clientId}@example.com`,
    }),
  });
  const server: Server = provider.listen(port);
  return {
    issuer,
    token: async (clientId) => {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${clientId}-secret`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: ADMIN_AUDIENCE, scope: 'admin' }),
      });
      if (!response.ok) throw new Error(`token endpoint answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { access_token: string }).access_token;
    },
    sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key', typ: 'at+jwt' }).sign(privateKey),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
