import type { Server } from 'node:http';
import Provider, { type ClientMetadata } from 'oidc-provider';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { freePort, testToken } from './infra.js';

export const ADMIN_AUDIENCE = 'https://gateway.test/admin';
/** The console's client at the provider (authorization code with PKCE), with its secret. */
export const CONSOLE_CLIENT = { id: 'gateway-console', secret: testToken('oidc-console-client') };
/** People who may sign in at the provider's login page (any password), with their groups. */
const PEOPLE: Record<string, string[]> = { alice: ['gateway-admins'], victor: ['gateway-viewers'], mallory: ['marketing'] };

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
 * Given the console's callback, it also signs PEOPLE in through its own login
 * and consent pages for the console's client, PKCE required, with their groups
 * in the ID token (scope groups). Its host is localhost, another site than the
 * gateway's 127.0.0.1, so the browser's trip there and back is cross-site.
 */
export async function startIdentityProvider(options: { consoleRedirectUrl?: string } = {}): Promise<TestIdentityProvider> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const groups: Record<string, string[]> = { 'ops-admins': ['gateway-admins'], 'ops-viewers': ['gateway-viewers'], strangers: ['marketing'] };
  const consoleClient: ClientMetadata | undefined = options.consoleRedirectUrl
    ? {
        client_id: CONSOLE_CLIENT.id,
        client_secret: CONSOLE_CLIENT.secret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [options.consoleRedirectUrl],
      }
    : undefined;
  const provider = new Provider(issuer, {
    clients: [
      ...Object.keys(groups).map((id) => ({
        client_id: id,
        client_secret: `${id}-secret`,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      })),
      ...(consoleClient ? [consoleClient] : []),
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [testToken('oidc-cookies')] },
    pkce: { required: () => true },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@example.com`, groups: PEOPLE[id] ?? [] }),
    }),
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    // As Keycloak, Entra ID and Okta do when so configured: the groups go in the ID token itself.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: Boolean(consoleClient) },
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
