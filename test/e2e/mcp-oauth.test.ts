import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calcTools, startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startOAuthServer, type FakeOAuthServer } from '../fakes/oauth-server.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/infra.js';

interface ServerView {
  name: string;
  state: string;
  error: string | null;
  tools: { name: string }[];
}

// MCP servers behind OAuth 2.1 (the MCP authorization spec): "reports" lets
// the gateway in with client credentials, "files" only after an admin signs
// in through the authorization code flow with PKCE.
describe('MCP servers behind OAuth', () => {
  let oauth: FakeOAuthServer;
  let reports: FakeMcpHttpServer;
  let files: FakeMcpHttpServer;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let tokenFile: string;

  beforeAll(async () => {
    const adminPort = await freePort();
    const callback = `http://127.0.0.1:${adminPort}/admin/mcp/oauth/callback`;
    oauth = await startOAuthServer([
      { id: 'gateway-reports', secret: 'reports-client-secret-123' },
      { id: 'gateway-files', redirectUris: [callback] },
    ]);
    const protectedBy = { issuer: oauth.url, valid: (token: string, resource: string) => oauth.valid(token, resource) };
    reports = await startMcpHttpServer('reports', weatherTools(), protectedBy);
    files = await startMcpHttpServer('files', calcTools(), protectedBy);
    tokenFile = join(mkdtempSync(join(tmpdir(), 'mcp-tokens-')), 'files.json');
    gateway = await startInProcess({
      governance: { adminPort },
      routing: {
        mcp: {
          maxReconnectDelayMs: 1_000,
          servers: {
            reports: {
              transport: 'http',
              url: reports.url,
              oauth: { grant: 'client_credentials', issuer: oauth.url, clientId: 'gateway-reports', clientSecret: 'reports-client-secret-123' },
            },
            files: {
              transport: 'http',
              url: files.url,
              oauth: { grant: 'authorization_code', issuer: oauth.url, clientId: 'gateway-files', redirectUrl: callback, tokenStore: `file:${tokenFile}` },
            },
          },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([reports?.close(), files?.close(), oauth?.close()]);
  });

  const server = async (name: string) =>
    (await admin<{ data: ServerView[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers')).data.find((s) => s.name === name)!;

  it('connects with client credentials on its own', async () => {
    const ready = await eventually('reports connected', async () => ((await server('reports')).state === 'ready' ? server('reports') : undefined));
    expect(ready.tools.map((t) => t.name).sort()).toEqual(['reports.get_alerts', 'reports.get_forecast']);
    expect(oauth.grants).toContain('client_credentials');
  });

  it('waits for an admin to sign in with the authorization code flow, then connects and keeps the tokens', async () => {
    const waiting = await eventually('files waiting for authorization', async () =>
      (await server('files')).state === 'unauthorized' ? server('files') : undefined,
    );
    expect(waiting.error).toMatch(/POST \/admin\/mcp\/servers\/files\/authorize/);
    expect(existsSync(tokenFile)).toBe(false);

    const { authorization_url: url } = await admin<{ authorization_url: string }>(gateway.adminUrl, 'POST', '/admin/mcp/servers/files/authorize');
    const authorization = new URL(url);
    expect(`${authorization.origin}${authorization.pathname}`).toBe(`${oauth.url}/authorize`);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('resource')).toBe(files.url);

    // The admin's browser: the authorization server consents and redirects to the gateway's callback.
    const consent = await fetch(url, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const callback = consent.headers.get('location')!;
    const done = await fetch(callback);
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ server: 'files', authorized: true });
    // The state is single-use.
    expect((await fetch(callback)).status).toBe(400);

    const ready = await eventually('files connected', async () => ((await server('files')).state === 'ready' ? server('files') : undefined));
    expect(ready.tools.map((t) => t.name).sort()).toEqual(['files.add', 'files.multiply']);
    expect(oauth.grants).toContain('authorization_code');
    const stored = JSON.parse(readFileSync(tokenFile, 'utf8')) as { access_token: string; refresh_token: string };
    expect(stored.refresh_token).toEqual(expect.any(String));
    expect(statSync(tokenFile).mode & 0o077).toBe(0);
  });

  it('refreshes expired tokens while it works, storing the rotated refresh token', async () => {
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/files/approve');
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/reports/approve');
    const { key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'tools', allowed_tools: ['files.*', 'reports.*'] });
    const before = JSON.parse(readFileSync(tokenFile, 'utf8')) as { refresh_token: string };
    const grants = oauth.grants.length;

    oauth.expireAccessTokens();
    const execute = (name: string, args: object) =>
      fetch(`${gateway.baseURL}/mcp/tools/execute`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, arguments: args }),
      });
    const product = await execute('files.multiply', { a: 6, b: 7 });
    expect(product.status).toBe(200);
    expect(await product.json()).toMatchObject({ message: { content: '42' } });
    const forecast = await execute('reports.get_forecast', { city: 'Nantes' });
    expect(forecast.status).toBe(200);

    expect(oauth.grants.slice(grants)).toEqual(expect.arrayContaining(['refresh_token', 'client_credentials']));
    const after = JSON.parse(readFileSync(tokenFile, 'utf8')) as { refresh_token: string };
    expect(after.refresh_token).not.toBe(before.refresh_token);
  });
});
