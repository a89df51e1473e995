import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess } from '../harness/gateway.js';
import { ADMIN_AUDIENCE, startIdentityProvider, type TestIdentityProvider } from '../harness/oidc.js';

// The admin API accepts tokens from an OpenID Connect provider, found through
// discovery and verified against its JWKS; groups map to roles.
describe('admin sign-in with OpenID Connect', () => {
  let idp: TestIdentityProvider;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    idp = await startIdentityProvider();
    gateway = await startInProcess({
      governance: {
        sso: {
          issuer: idp.issuer,
          audience: ADMIN_AUDIENCE,
          clockToleranceSeconds: 0,
          roleMappings: [
            { value: 'gateway-admins', role: 'admin' },
            { value: 'gateway-viewers', role: 'viewer' },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await idp?.close();
  });

  const call = (token: string, method = 'GET', path = '/admin/whoami', body?: unknown) =>
    fetch(`${gateway.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });

  it('accepts a token the provider issued, with the role its group maps to', async () => {
    const token = await idp.token('ops-admins');
    const whoami = await call(token);
    expect(whoami.status).toBe(200);
    expect(await whoami.json()).toMatchObject({ name: 'ops-admins@example.com', role: 'admin' });
    expect((await call(token, 'POST', '/admin/keys', { name: 'made through SSO' })).status).toBe(201);

    const viewer = await idp.token('ops-viewers');
    expect((await call(viewer, 'GET', '/admin/keys')).status).toBe(200);
    expect((await call(viewer, 'POST', '/admin/keys', { name: 'not allowed' })).status).toBe(403);
  });

  it('refuses expired, wrong-audience, tampered, foreign and unmapped tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: idp.issuer, aud: ADMIN_AUDIENCE, sub: 'ops', groups: ['gateway-admins'], iat: now - 60 };
    expect((await call(await idp.sign({ ...claims, exp: now + 600 }))).status).toBe(200);
    expect((await call(await idp.sign({ ...claims, exp: now - 10 }))).status).toBe(401);
    expect((await call(await idp.sign({ ...claims, aud: 'https://someone-else.test', exp: now + 600 }))).status).toBe(401);

    const [header, payload, signature] = (await idp.sign({ ...claims, exp: now + 600, groups: ['gateway-viewers'] })).split('.');
    const promoted = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), groups: ['gateway-admins'] })).toString(
      'base64url',
    );
    expect((await call(`${header}.${promoted}.${signature}`)).status).toBe(401);

    const { privateKey } = await generateKeyPair('RS256');
    const foreign = await new SignJWT({ ...claims, exp: now + 600 }).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(privateKey);
    expect((await call(foreign)).status).toBe(401);

    expect((await call(await idp.token('strangers'))).status).toBe(401);
  });
});
