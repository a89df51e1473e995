import { createHash, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';

/**
 * An OAuth 2.1 authorization server for tests, as MCP servers use them
 * (MCP authorization spec): RFC 8414 metadata at
 * /.well-known/oauth-authorization-server; /authorize for the authorization
 * code flow with PKCE (S256 only; consent is given at once, as if the user
 * clicked "allow", redirecting to the client's redirect_uri with code and
 * state); /token for authorization_code (verifying the code verifier and
 * redirect_uri), refresh_token (rotating: a used refresh token stops working)
 * and client_credentials (confidential clients, client_secret_basic or
 * client_secret_post). Errors are RFC 6749 bodies ({"error", "error_description"}).
 */
export interface FakeOAuthClient {
  id: string;
  /** None: a public client (authorization code with PKCE only). */
  secret?: string;
  redirectUris?: string[];
}

export interface FakeOAuthServer {
  /** The issuer (and base URL). */
  readonly url: string;
  /** Token requests by grant type, in order. */
  readonly grants: string[];
  /** Whether an access token is current (issued, not expired, not revoked), optionally for a resource. */
  valid(token: string, resource?: string): boolean;
  /** Makes every access token issued so far expire, as time would. */
  expireAccessTokens(): void;
  close(): Promise<void>;
}

interface Code {
  clientId: string;
  redirectUri: string;
  challenge: string;
  resource: string | undefined;
}

const base64url = (buffer: Buffer) => buffer.toString('base64url');

export async function startOAuthServer(clients: FakeOAuthClient[]): Promise<FakeOAuthServer> {
  const codes = new Map<string, Code>();
  const refreshTokens = new Map<string, { clientId: string; resource: string | undefined }>();
  const accessTokens = new Map<string, { resource: string | undefined; expired: boolean }>();
  const grants: string[] = [];
  let issuer = '';

  const fail = (res: ServerResponse, status: number, error: string, description: string) => writeJson(res, status, { error, error_description: description });
  const issue = (res: ServerResponse, clientId: string, resource: string | undefined, withRefresh: boolean) => {
    const accessToken = base64url(randomBytes(24));
    accessTokens.set(accessToken, { resource, expired: false });
    const refreshToken = withRefresh ? base64url(randomBytes(24)) : undefined;
    if (refreshToken) refreshTokens.set(refreshToken, { clientId, resource });
    writeJson(
      res,
      200,
      { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, ...(refreshToken ? { refresh_token: refreshToken } : {}) },
      { 'cache-control': 'no-store' },
    );
  };

  /** The client a token request authenticates as (Basic header or body), or why not. */
  function clientOf(authorization: string | undefined, form: URLSearchParams): FakeOAuthClient | string {
    let id = form.get('client_id') ?? '';
    let secret = form.get('client_secret') ?? undefined;
    if (authorization?.startsWith('Basic ')) {
      const [user, pass] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':');
      id = decodeURIComponent(user ?? '');
      secret = decodeURIComponent(pass ?? '');
    }
    const client = clients.find((c) => c.id === id);
    if (!client) return 'unknown client';
    if (client.secret !== undefined && client.secret !== secret) return 'wrong client secret';
    return client;
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      if (req.method === 'GET' && url.pathname === '/.well-known/oauth-authorization-server') {
        return writeJson(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
        });
      }
      if (req.method === 'GET' && url.pathname === '/authorize') {
        const q = url.searchParams;
        const client = clients.find((c) => c.id === q.get('client_id'));
        const redirectUri = q.get('redirect_uri') ?? '';
        if (!client?.redirectUris?.includes(redirectUri)) return fail(res, 400, 'invalid_request', 'unknown client or redirect_uri');
        if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
          return fail(res, 400, 'invalid_request', 'response_type=code with an S256 code_challenge is required');
        }
        const code = base64url(randomBytes(16));
        codes.set(code, { clientId: client.id, redirectUri, challenge: q.get('code_challenge')!, resource: q.get('resource') ?? undefined });
        const target = new URL(redirectUri);
        target.searchParams.set('code', code);
        if (q.get('state')) target.searchParams.set('state', q.get('state')!);
        res.writeHead(302, { location: target.toString() }).end();
        return;
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        const form = new URLSearchParams((await readBody(req)).toString('utf8'));
        const client = clientOf(req.headers.authorization, form);
        if (typeof client === 'string') return fail(res, 401, 'invalid_client', client);
        const grant = form.get('grant_type') ?? '';
        grants.push(grant);
        if (grant === 'client_credentials') {
          if (client.secret === undefined) return fail(res, 400, 'unauthorized_client', 'public clients cannot use client_credentials');
          return issue(res, client.id, form.get('resource') ?? undefined, false);
        }
        if (grant === 'authorization_code') {
          const code = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? '');
          const verifier = form.get('code_verifier') ?? '';
          if (!code || code.clientId !== client.id || code.redirectUri !== form.get('redirect_uri'))
            return fail(res, 400, 'invalid_grant', 'unknown or used code');
          if (base64url(createHash('sha256').update(verifier).digest()) !== code.challenge) return fail(res, 400, 'invalid_grant', 'PKCE verification failed');
          return issue(res, client.id, code.resource, true);
        }
        if (grant === 'refresh_token') {
          const held = refreshTokens.get(form.get('refresh_token') ?? '');
          refreshTokens.delete(form.get('refresh_token') ?? '');
          if (!held || held.clientId !== client.id) return fail(res, 400, 'invalid_grant', 'unknown or used refresh token');
          return issue(res, client.id, held.resource, true);
        }
        return fail(res, 400, 'unsupported_grant_type', `grant_type ${grant} is not supported`);
      }
      fail(res, 404, 'invalid_request', `no route ${req.method} ${url.pathname}`);
    })();
  });
  const local = await listenLocally(server);
  issuer = local.url;
  return {
    url: local.url,
    grants,
    valid: (token, resource) => {
      const held = accessTokens.get(token);
      return held !== undefined && !held.expired && (resource === undefined || held.resource === undefined || held.resource === resource);
    },
    expireAccessTokens: () => accessTokens.forEach((t) => (t.expired = true)),
    close: local.close,
  };
}
