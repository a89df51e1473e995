import { createHash } from 'node:crypto';
import { generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configProblems } from '../../../test/harness/config.js';
import { DATABASE_KINDS } from '../../../test/harness/databases.js';
import { CONSOLE_CLIENT, startIdentityProvider, type TestIdentityProvider } from '../../../test/harness/oidc.js';
import { gatewayConfig } from '../../gateway/config.js';
import { migrate } from '../../kit/db/migrate.js';
import { createLogger } from '../../kit/log.js';
import { governanceMigrations } from '../migrations.js';
import { OidcSignIn } from './oidc-sign-in.js';
import { TokenAuthenticator } from './principals.js';
import { AdminSessionStore } from './sessions.js';
import { IssuerMetadata, OidcAuthenticator } from './sso.js';

const log = createLogger({ level: 'silent' });
const CLIENT_ID = CONSOLE_CLIENT.id;
const REDIRECT = 'https://gateway.test/admin/session/oidc/callback';

// The callback's checks, with ID tokens signed by a real issuer's key (served at its JWKS) but with claims of the test's choosing.
describe('console sign-in with OpenID Connect: what the callback refuses', () => {
  let idp: TestIdentityProvider;
  let handle: Awaited<ReturnType<(typeof DATABASE_KINDS)['pglite']>>;
  let signIn: OidcSignIn;

  beforeAll(async () => {
    idp = await startIdentityProvider({ consoleRedirectUrl: REDIRECT });
    handle = await DATABASE_KINDS.pglite();
    await migrate(handle.db, 'governance', governanceMigrations, log);
    const governance = gatewayConfig.parse({
      governance: {
        sso: {
          issuer: idp.issuer,
          audience: 'https://gateway.test/admin',
          clockToleranceSeconds: 0,
          roleMappings: [{ value: 'gateway-admins', role: 'admin' }],
          console: { clientId: CLIENT_ID, clientSecret: 'env:UNUSED_HERE', redirectUrl: REDIRECT },
        },
      },
    }).governance;
    const issuer = new IssuerMetadata(idp.issuer);
    const sessions = new AdminSessionStore(handle.db, new TokenAuthenticator(governance, undefined), new OidcAuthenticator(governance.sso, issuer, log));
    signIn = new OidcSignIn(governance.sso, issuer, { value: CONSOLE_CLIENT.secret }, sessions, log);
  });
  afterAll(async () => {
    await handle?.cleanup();
    await idp?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (nonce: string): JWTPayload => ({
    iss: idp.issuer,
    aud: CLIENT_ID,
    sub: 'alice',
    email: 'alice@example.com',
    groups: ['gateway-admins'],
    nonce,
    iat: now() - 5,
    exp: now() + 300,
  });

  it('sends the browser to the issuer with a fresh state, nonce and S256 challenge of the verifier it keeps', async () => {
    const first = await signIn.start();
    const url = new URL(first.location);
    expect(url.origin).toBe(idp.issuer);
    const [state, nonce, verifier] = first.pending.split('.');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT,
      scope: 'openid email profile',
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier!).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const second = await signIn.start();
    expect(new Set([...first.pending.split('.'), ...second.pending.split('.')]).size).toBe(6);
  });

  it('takes a token with this sign-in’s nonce, and maps its groups to a role', async () => {
    expect(await signIn.verify(await idp.sign(claims('n-1')), 'n-1')).toEqual({ name: 'alice@example.com', role: 'admin' });
  });

  it('refuses a wrong nonce, a wrong audience, another client’s token, an expired token, a foreign key, and an unmapped person', async () => {
    const refused = async (token: string, refusal: string, reason: RegExp) =>
      expect(signIn.verify(token, 'n-2')).rejects.toMatchObject({ refusal, message: expect.stringMatching(reason) });
    await refused(await idp.sign(claims('n-other')), 'token', /nonce/);
    await refused(await idp.sign({ ...claims('n-2'), nonce: undefined }), 'token', /nonce/);
    await refused(await idp.sign({ ...claims('n-2'), aud: 'someone-else' }), 'token', /"aud"/);
    await refused(await idp.sign({ ...claims('n-2'), aud: [CLIENT_ID, 'someone-else'], azp: 'someone-else' }), 'token', /azp/);
    await refused(await idp.sign({ ...claims('n-2'), iat: now() - 900, exp: now() - 10 }), 'token', /"exp"/);
    await refused(await idp.sign({ ...claims('n-2'), iss: 'https://another-issuer.test' }), 'token', /"iss"/);
    const { privateKey } = await generateKeyPair('RS256');
    await refused(await new SignJWT(claims('n-2')).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(privateKey), 'token', /signature/);
    await refused(await idp.sign({ ...claims('n-2'), groups: ['marketing'] }), 'role', /no role mapping/);
  });

  it('refuses a callback without this browser’s state, from another issuer, or with the issuer’s error, before any exchange', async () => {
    const { pending } = await signIn.start();
    const [state] = pending.split('.');
    const finish = (query: Record<string, string>) => signIn.finish(query, pending);
    // A browser with no sign-in under way (its cookie expired, or the link was opened elsewhere).
    expect(await signIn.finish({ state: state!, code: 'c' }, undefined)).toMatchObject({ refused: 'state' });
    expect(await finish({ state: `${state}x`, code: 'c' })).toMatchObject({ refused: 'state' });
    expect(await finish({ code: 'c' })).toMatchObject({ refused: 'state' });
    expect(await finish({ state: state!, code: 'c', iss: 'https://another-issuer.test' })).toMatchObject({ refused: 'state' });
    expect(await finish({ state: state!, error: 'access_denied', error_description: 'no <script>' })).toEqual({
      refused: 'denied',
      reason: 'identity provider answered access_denied',
    });
    // The issuer takes the client's credentials but not a made-up code: no session.
    expect(await finish({ state: state!, code: 'made-up' })).toEqual({
      refused: 'token',
      reason: 'token endpoint answered 400 invalid_grant with no ID token',
    });
    const { rows } = await handle.db.query('SELECT 1 FROM admin_sessions');
    expect(rows).toEqual([]);
  });

  it('is checked at start-up, naming the key', () => {
    const problems = (console: object, issuer = 'https://idp.test') =>
      configProblems({ overrides: { governance: { sso: { issuer, audience: 'a', console } } }, env: {} }).join('\n');
    const complete = { clientId: CLIENT_ID, clientSecret: 'env:SECRET', redirectUrl: REDIRECT };
    expect(problems(complete)).toBe('');
    expect(problems(complete, '')).toContain('governance.sso.issuer');
    expect(problems({ ...complete, clientSecret: '' })).toContain('governance.sso.console.clientSecret');
    expect(problems({ ...complete, redirectUrl: 'https://gateway.test/callback' })).toContain('governance.sso.console.redirectUrl');
    expect(problems({ ...complete, scopes: ['email'] })).toContain('governance.sso.console.scopes');
  });
});
