import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_VIEWPORT, launchConsoleBrowser, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';
import { ADMIN_AUDIENCE, CONSOLE_CLIENT, startIdentityProvider, type TestIdentityProvider } from '../harness/oidc.js';

/**
 * The console's sign-in with OpenID Connect, in Debian's Chromium against a
 * real issuer (oidc-provider): the browser goes through the issuer's login
 * and consent pages and comes back signed in with the role its groups map to;
 * a tampered state, an unmapped person and a cancelled sign-in are refused,
 * audited, and explained on the sign-in page.
 */

const SECRET_VARIABLE = 'CONSOLE_OIDC_TEST_SECRET';

let idp: TestIdentityProvider;
let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;

/** Opens the sign-in page, follows its SSO link and signs the person in at the issuer's own pages. */
async function signInAtIssuer(person: string): Promise<Page> {
  const page = await browser.newPage();
  // The issuer's development pages import a web font; the test machine has no internet to fetch it from.
  await page.route(/^https:\/\//, (route) => route.abort());
  await page.getByRole('link', { name: 'Sign in with SSO' }).click();
  await page.getByPlaceholder('Enter any login').fill(person);
  await page.getByPlaceholder('and password').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  return page;
}

/** The refused sign-ins audited at the callback so far. */
async function refusedCallbacks(): Promise<string[]> {
  const { data } = await admin<{ data: { payload: { auth?: { surface: string; reason: string; target: string } } }[] }>(
    gateway.adminUrl,
    'GET',
    '/admin/audit/events?type=auth.failed&limit=100',
  );
  return data
    .filter((e) => e.payload.auth?.surface === 'admin_api' && e.payload.auth.target === 'GET /admin/session/oidc/callback')
    .map((e) => e.payload.auth!.reason);
}

describe('console sign-in with OpenID Connect in a real browser', () => {
  beforeAll(async () => {
    const adminPort = await freePort();
    const redirectUrl = `http://127.0.0.1:${adminPort}/admin/session/oidc/callback`;
    idp = await startIdentityProvider({ consoleRedirectUrl: redirectUrl });
    recordSecret(CONSOLE_CLIENT.secret);
    process.env[SECRET_VARIABLE] = CONSOLE_CLIENT.secret;
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      governance: {
        adminPort,
        sso: {
          issuer: idp.issuer,
          audience: ADMIN_AUDIENCE,
          roleMappings: [
            { value: 'gateway-admins', role: 'admin' },
            { value: 'gateway-viewers', role: 'viewer' },
          ],
          console: { clientId: CONSOLE_CLIENT.id, clientSecret: `env:${SECRET_VARIABLE}`, redirectUrl, scopes: ['openid', 'email', 'groups'] },
        },
      },
    });
    browser = await launchConsoleBrowser(gateway.adminUrl);
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await idp?.close();
    delete process.env[SECRET_VARIABLE];
  });

  it('signs an admin in through the issuer’s login and consent pages, in an HttpOnly session cookie', async () => {
    const page = await browser.newPage({ viewport: DOCS_VIEWPORT });
    await page.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
    await screenshot(page, 'sign-in');
    await page.close();

    const signedIn = await signInAtIssuer('alice');
    await signedIn.getByTestId('who').waitFor();
    expect(await signedIn.getByTestId('who').textContent()).toBe('alice@example.com (admin)');
    expect(new URL(signedIn.url()).pathname).toBe('/console/');
    await signedIn.getByRole('button', { name: 'Create key' }).waitFor();
    // The pending sign-in's cookie is gone; the session's is the console's usual one, and holds no token of the issuer's.
    const cookies = (await signedIn.context().cookies()).filter((c) => c.domain === '127.0.0.1' && c.name.startsWith('gateway_'));
    expect(cookies).toEqual([expect.objectContaining({ name: 'gateway_session', httpOnly: true, sameSite: 'Strict' })]);
    recordSecret(cookies[0]!.value);
    expect(cookies[0]!.value).toMatch(/^[\w-]{43}$/);

    // The session is the admin's: it creates a key, recorded as made by the person.
    await signedIn.getByLabel('Name').fill('made-through-sso');
    await signedIn.getByRole('button', { name: 'Create key' }).click();
    recordSecret(await signedIn.getByLabel('New key').inputValue());
    const { data } = await admin<{ data: { name: string }[] }>(gateway.adminUrl, 'GET', '/admin/keys');
    expect(data.map((k) => k.name)).toContain('made-through-sso');
    await eventually('the key’s creation audited with the person as its actor', async () => {
      const events = await admin<{ data: { actor_admin: string }[] }>(gateway.adminUrl, 'GET', '/admin/audit/events?type=admin.virtual_key.create');
      return events.data.some((e) => e.actor_admin === 'alice@example.com (admin)') || undefined;
    });
  });

  it('shows a person whose groups map to viewer no create buttons', async () => {
    const page = await signInAtIssuer('victor');
    await page.getByTestId('who').waitFor();
    expect(await page.getByTestId('who').textContent()).toBe('victor@example.com (viewer)');
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    expect(await page.getByRole('button', { name: 'Create key' }).count()).toBe(0);
  });

  it('refuses a callback whose state is not the one this browser started with, audits it, and says so', async () => {
    const page = await browser.newPage();
    await page.route(/^https:\/\//, (route) => route.abort());
    const authorizations: URL[] = [];
    page.on('request', (request) => {
      if (request.url().startsWith(`${idp.issuer}/auth?`)) authorizations.push(new URL(request.url()));
    });
    await page.getByRole('link', { name: 'Sign in with SSO' }).click();
    await page.getByPlaceholder('Enter any login').waitFor();
    const state = authorizations[0]!.searchParams.get('state')!;
    expect(authorizations[0]!.searchParams.get('code_challenge_method')).toBe('S256');
    // The browser holds a sign-in under way; an answer reaches it with that state altered, as a forged link would carry it.
    await page.goto(`${gateway.adminUrl}/admin/session/oidc/callback?code=forged-code&state=${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('could not be checked');
    expect(page.url()).toBe(`${gateway.adminUrl}/console/`);
    expect((await page.context().cookies()).map((c) => c.name)).not.toContain('gateway_session');
    await eventually(
      'the refusal audited',
      async () => (await refusedCallbacks()).some((reason) => reason.includes('state this browser did not start')) || undefined,
    );
  });

  it('refuses a person no group of whom has a role, and a sign-in cancelled at the issuer', async () => {
    const stranger = await signInAtIssuer('mallory');
    await stranger.getByRole('alert').waitFor();
    expect(await stranger.getByRole('alert').textContent()).toContain('none of your groups has a role');
    expect((await stranger.context().cookies()).map((c) => c.name)).not.toContain('gateway_session');

    const cancelled = await browser.newPage();
    await cancelled.route(/^https:\/\//, (route) => route.abort());
    await cancelled.getByRole('link', { name: 'Sign in with SSO' }).click();
    await cancelled.getByRole('link', { name: '[ Cancel ]' }).click();
    await cancelled.getByRole('alert').waitFor();
    expect(await cancelled.getByRole('alert').textContent()).toContain('did not sign you in');

    await eventually('both refusals audited', async () => {
      const reasons = await refusedCallbacks();
      return (reasons.some((r) => r.includes('no role mapping')) && reasons.some((r) => r.includes('access_denied'))) || undefined;
    });
  });
});
