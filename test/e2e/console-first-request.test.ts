import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_VIEWPORT, launchConsoleBrowser, openPage, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';

/**
 * Issue 29's newcomer: from nothing to a key and its first request without leaving the browser. The console calls the
 * API (another origin: ingress's port) with the new key, which the API's CORS allows for the console's own origins
 * only; any other web page is refused by the browser and by the API.
 */

/** A web page the operator allows besides the console. */
const LISTED = 'https://app.example.com';
let started: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;
/** The gateway as `npm start` runs it (every service in one process), on ports of its own. */
const gateway = { adminUrl: '', baseURL: '', opsUrl: '', consoleUrl: '' };
const createKey = (name: string) => admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name });

describe('the console’s first request', () => {
  beforeAll(async () => {
    // A port known before the start, as 8081 is by default: the console's origins are allowed from the configuration.
    started = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      governance: { adminPort: await freePort() },
      ingress: { cors: { allowedOrigins: [LISTED] } },
    });
    // The console's address as the start-up logs it.
    gateway.consoleUrl = await eventually(
      'the console’s address in the log',
      async () => /"console":"([^"]+)"/.exec(readFileSync(started.logFile, 'utf8'))?.[1],
    );
    Object.assign(gateway, { adminUrl: started.adminUrl, baseURL: started.baseURL, opsUrl: started.opsUrl });
    browser = await launchConsoleBrowser(gateway.adminUrl);
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await started?.stop();
  });

  it('prints the console’s address at start-up', () => {
    expect(gateway.consoleUrl).toBe(`${gateway.adminUrl}/console/`);
  });

  it('takes a newcomer from the admin token to a key, its first answer, and the request in live requests', async () => {
    const { page } = await browser.signIn(ADMIN_TOKEN, { viewport: DOCS_VIEWPORT });
    await page.getByLabel('Name').fill('first-bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('New key').inputValue();
    recordSecret(key);

    await page.getByRole('button', { name: 'Try this key' }).click();
    const form = page.getByRole('form', { name: 'First request' });
    // The models the key may use (all, here), as the API lists them to it.
    await expect.poll(() => form.getByLabel('Model').inputValue()).toBe('mock/echo');
    await form.getByLabel('Message').fill('hello from the browser');
    await form.getByRole('button', { name: 'Send' }).click();

    const answer = page.getByRole('status', { name: 'Answer' });
    await expect.poll(() => answer.textContent()).toBe('This is a mock response to: hello from the browser');
    await expect.poll(() => answer.getAttribute('aria-busy')).toBe('false');
    const caption = await page.locator('.first-request figcaption').first().textContent();
    const requestId = /\(request (.+)\)/.exec(caption ?? '')?.[1];
    expect(requestId).toBeTruthy();

    // What to run next: the API's base URL (the client's own), the model and the message; never the key itself.
    const curl = await page.getByRole('figure', { name: 'curl' }).textContent();
    expect(curl).toContain(`curl ${gateway.baseURL}/chat/completions`);
    expect(curl).toContain('"model":"mock/echo"');
    expect(await page.getByRole('figure', { name: 'Python (openai)' }).textContent()).toContain(`base_url="${gateway.baseURL}"`);
    expect(await page.getByRole('figure', { name: 'Node.js (openai)' }).textContent()).toContain(`baseURL: "${gateway.baseURL}"`);
    expect(await page.locator('.snippets').textContent()).not.toContain(key);
    await screenshot(page, 'first-request');

    // The key lives in the page's memory only.
    expect(await page.evaluate('[localStorage.length, sessionStorage.length]')).toEqual([0, 0]);
    expect((await page.context().cookies()).map((c) => c.name)).toEqual(['gateway_session']);

    // The request is on record, and the live requests page shows it, by the key's name.
    await openPage(page, 'Live requests');
    const row = page.getByRole('table', { name: 'Requests' }).locator(`tr[data-record-id="${requestId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('first-bot');
    expect(await row.textContent()).toContain('completed 200');
  });

  it('lets only the console’s origins call the API from a browser, never with credentials', async () => {
    const { key } = await createKey('cors-bot');
    recordSecret(key);

    // A page of another origin (the ops port's) cannot read an answer: the browser refuses it.
    const page = await browser.newPage();
    await page.goto(`${gateway.opsUrl}/healthz`);
    const fromElsewhere = await page.evaluate(
      async ({ url, key }) =>
        fetch(url, { headers: { authorization: `Bearer ${key}` } }).then(
          (r) => `answered ${r.status}`,
          (err: Error) => err.name,
        ),
      { url: `${gateway.baseURL}/models`, key },
    );
    expect(fromElsewhere).toBe('TypeError');

    // And the API refuses the request itself, in OpenAI's shape, preflight or not.
    const other = 'http://evil.example';
    const preflight = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: other, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await fetch(`${gateway.baseURL}/models`, { headers: { origin: other, authorization: `Bearer ${key}` } });
    expect(simple.status).toBe(403);
    expect(await simple.json()).toMatchObject({ error: { code: 'origin_not_allowed', type: 'permission_error' } });

    // The console's origin gets its preflight answered, without credentials; its errors are readable, in OpenAI's shape.
    const allowed = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: gateway.adminUrl, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(gateway.adminUrl);
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    // So does an origin the operator listed in ingress.cors.allowedOrigins.
    const listed = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: LISTED, 'access-control-request-method': 'POST' },
    });
    expect([listed.status, listed.headers.get('access-control-allow-origin')]).toEqual([204, LISTED]);
    const refused = await fetch(`${gateway.baseURL}/models`, { headers: { origin: gateway.adminUrl, authorization: 'Bearer sk-not-a-key' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(gateway.adminUrl);
    expect(await refused.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    // Clients that are not browsers send no Origin and are not affected.
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: key, maxRetries: 0 });
    expect((await client.models.list()).data.map((m) => m.id)).toContain('mock/echo');
  });

  it('calls the API at the host the console was opened at', async () => {
    const page = await browser.newPage();
    await page.goto(gateway.consoleUrl.replace('127.0.0.1', 'localhost'));
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    const url = await page.evaluate(async () => (await (await fetch('/admin/console/ingress')).json()) as { url: string });
    expect(url).toEqual({ url: gateway.baseURL.replace('127.0.0.1', 'localhost').replace(/\/v1$/, '') });
  });
});
