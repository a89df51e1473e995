import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchInPage, launchConsoleBrowser, type ConsoleBrowser } from '../harness/console.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';

/**
 * Issue 29's console, driven in Debian's Chromium as an admin would: signing
 * in with a token, making a key and using it, revoking it; what a viewer sees
 * and may do; and the session cookie's defences.
 */

const VIEWER = testToken('viewer');

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;
const signIn = (token: string) => browser.signIn(token);

const chat = (key: string) => gateway.client(key).chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'hello console' }] });

describe('the console in a real browser', () => {
  beforeAll(async () => {
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      governance: { adminTokens: [{ name: 'viewer-bot', token: VIEWER, role: 'viewer' }] },
    });
    browser = await launchConsoleBrowser(gateway.adminUrl);
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('signs the owner in, creates a key shown once, and revokes it', async () => {
    await admin(gateway.adminUrl, 'POST', '/admin/keys', { name: 'someone-else' });
    const { page, context } = await signIn(ADMIN_TOKEN);
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    expect(await page.getByTestId('who').textContent()).toBe('admin-token (owner)');

    await page.getByLabel('Name').fill('ci-bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('New key').inputValue();
    recordSecret(key);
    expect(key).toMatch(/^sk-/);
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(key);

    // The key works with the official client.
    expect((await chat(key)).choices[0]?.message.content).toBe('This is a mock response to: hello console');

    // Shown once: gone from the page when dismissed, and not there after a reload.
    await page.getByRole('button', { name: 'Done' }).click();
    await page.reload();
    await page.getByRole('row', { name: /ci-bot/ }).waitFor();
    expect(await page.content()).not.toContain(key);

    // Search narrows the list.
    await page.getByLabel('Search keys').fill('ci-b');
    await page.getByRole('row', { name: /someone-else/ }).waitFor({ state: 'detached' });
    expect(await page.locator('tbody tr').count()).toBe(1);

    const row = page.getByRole('row', { name: /ci-bot/ });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Revoke ci-bot now' }).click();
    await row.getByRole('cell', { name: 'revoked', exact: true }).waitFor();
    await eventually('the revoked key to be refused', async () =>
      chat(key).then(
        () => undefined,
        (err: { status?: number }) => err.status === 401 || undefined,
      ),
    );
    // Nothing but the admin server is asked for anything: no CDN, no web fonts.
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => !url.startsWith(`${gateway.adminUrl}/`))).toEqual([]);
  });

  it('edits a key’s allowed models, limits, tool mode and code mode limits', async () => {
    const { id } = await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'to-edit' });
    const { page } = await signIn(ADMIN_TOKEN);
    const row = page.getByRole('row', { name: /to-edit/ });
    await row.getByRole('button', { name: 'Edit' }).click();
    await row.getByLabel('Allowed models').fill('mock/*, openai/gpt-4o');
    await row.getByLabel('RPM').fill('30');
    await row.getByLabel('Tool mode').selectOption('code');
    await row.getByLabel('Program time (ms)').fill('2500');
    await row.getByRole('button', { name: 'Save' }).click();
    await row.getByRole('cell', { name: '30 rpm · ∞ tpm' }).waitFor();
    expect(await admin(gateway.adminUrl, 'GET', `/admin/keys/${id}`)).toMatchObject({
      allowed_models: ['mock/*', 'openai/gpt-4o'],
      rpm_limit: 30,
      tpm_limit: null,
      tool_mode: 'code',
      code_limits: { time_ms: 2500, max_tool_calls: null },
    });
    // The form opens on what the key has: saved again unchanged, nothing changes.
    await row.getByRole('button', { name: 'Edit' }).click();
    expect(await row.getByLabel('Tool mode').inputValue()).toBe('code');
    expect(await row.getByLabel('Program time (ms)').inputValue()).toBe('2500');
    await row.getByRole('button', { name: 'Save' }).click();
    await row.getByRole('button', { name: 'Edit' }).waitFor();
    expect(await admin(gateway.adminUrl, 'GET', `/admin/keys/${id}`)).toMatchObject({ tool_mode: 'code', code_limits: { time_ms: 2500 } });
  });

  it('keeps the session in an HttpOnly, SameSite=Strict cookie the page cannot read, and ends it at sign-out', async () => {
    const { page, context } = await signIn(ADMIN_TOKEN);
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    const csp = (await fetch(`${gateway.adminUrl}/console/`)).headers.get('content-security-policy');
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const cookies = await context.cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'gateway_session', httpOnly: true, sameSite: 'Strict', secure: false })]);
    const session = cookies[0]!.value;
    recordSecret(session);
    expect(session).not.toContain(ADMIN_TOKEN);
    expect(await page.evaluate('[document.cookie, localStorage.length, sessionStorage.length]')).toEqual(['', 0, 0]);

    // The cookie alone reads; a change by cookie without the console's header is refused, and nothing changes.
    expect((await fetchInPage(page, 'GET', '/admin/keys', {})).status).toBe(200);
    const forged = await fetchInPage(page, 'POST', '/admin/keys', {}, { name: 'forged' });
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('x-gateway-console');
    const { data } = await admin<{ data: { name: string }[] }>(gateway.adminUrl, 'GET', '/admin/keys');
    expect(data.map((k) => k.name)).not.toContain('forged');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    const replayed = await fetch(`${gateway.adminUrl}/admin/whoami`, { headers: { cookie: `gateway_session=${session}` } });
    expect(replayed.status).toBe(401);
  });

  it('shows a viewer the keys without create, edit or revoke, and the server refuses its forged create', async () => {
    await admin(gateway.adminUrl, 'POST', '/admin/keys', { name: 'seen-by-viewer' });
    // By keyboard alone, in a phone-sized window.
    const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate('document.activeElement.id')).toBe('token');
    await page.keyboard.type(VIEWER);
    await page.keyboard.press('Enter');
    expect(await page.getByTestId('who').textContent()).toBe('viewer-bot (viewer)');
    await page.getByRole('row', { name: /seen-by-viewer/ }).waitFor();
    // Only the table scrolls sideways, not the page.
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    for (const name of ['Create key', 'Edit', 'Revoke']) expect(await page.getByRole('button', { name }).count()).toBe(0);

    const forged = await fetchInPage(page, 'POST', '/admin/keys', { 'x-gateway-console': '1' }, { name: 'viewer-made' });
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('The viewer role may not change governance settings.');
  });

  it('refuses a wrong token, sets no cookie, and audits the refusal', async () => {
    const { page, context } = await signIn(testToken('wrong'));
    expect(await page.getByRole('alert').textContent()).toContain('A valid admin token is required');
    expect(await context.cookies()).toEqual([]);
    // Audited as every refused admin credential is.
    await eventually('the refused sign-in audited', async () => {
      const { data } = await admin<{ data: { payload: { auth?: { surface: string; target: string } } }[] }>(
        gateway.adminUrl,
        'GET',
        '/admin/audit/events?type=auth.failed&limit=100',
      );
      return data.some((e) => e.payload.auth?.surface === 'admin_api' && e.payload.auth.target === 'POST /admin/session') || undefined;
    });
  });
});
