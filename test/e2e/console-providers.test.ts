import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_VIEWPORT, fetchInPage, launchConsoleBrowser, openPage, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

/**
 * Issue 29's providers and models page in Debian's Chromium: an admin sees the
 * models routing resolves, with their deployments, adds a provider whose key is
 * a secret reference (shown as its kind only), adds, edits and removes a model;
 * a viewer sees it all read-only and the server refuses its forged changes.
 */

const ADMIN = testToken('admin');
const VIEWER = testToken('viewer');
const SECRET = 'sk-console-provider-secret';

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;

type Routed = { model: string; deployments: { provider: string; model: string }[] };
/** /admin/deployments once routing has applied what was just changed. */
const deployments = (until: (data: Routed[]) => boolean) =>
  eventually('routing to apply the change', async () => {
    const { data } = await admin<{ data: Routed[] }>(gateway.adminUrl, 'GET', '/admin/deployments');
    return until(data) ? data : undefined;
  });

describe('the console’s providers and models page', () => {
  beforeAll(async () => {
    process.env.GW_CONSOLE_PROVIDER_KEY = SECRET;
    gateway = await startInProcess({
      routing: {
        providers: { mock: { type: 'mock' } },
        models: { smart: { deployments: [{ provider: 'mock', model: 'echo' }] } },
        adminProviders: { hosts: ['127.0.0.1'], secretReferences: [{ reference: 'env:GW_CONSOLE_PROVIDER_KEY', hosts: ['127.0.0.1'] }] },
      },
      governance: {
        adminTokens: [
          { name: 'admin-bot', token: ADMIN, role: 'admin' },
          { name: 'viewer-bot', token: VIEWER, role: 'viewer' },
        ],
      },
    });
    browser = await launchConsoleBrowser(gateway.adminUrl);
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('lets an admin add a provider and add, edit and remove a model, never showing a secret', async () => {
    const { page } = await browser.signIn(ADMIN, { viewport: DOCS_VIEWPORT });
    await openPage(page, 'Providers');
    const models = page.getByRole('table', { name: 'Models', exact: true });
    expect(
      await models
        .getByRole('row', { name: /^smart/ })
        .getByRole('cell')
        .allTextContents(),
    ).toEqual(['smart', 'mock/echo', 'config file']);

    await page.getByLabel('Entry name').fill('house');
    await page.getByLabel('Entry (JSON)').fill(JSON.stringify({ type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'env:GW_CONSOLE_PROVIDER_KEY' }));
    await page.getByRole('button', { name: 'Add' }).click();
    const provider = page.getByRole('table', { name: 'Providers added through the admin API' }).getByRole('row', { name: /house/ });
    await provider.waitFor();
    const cells = await provider.getByRole('cell').allTextContents();
    expect(cells.slice(0, 3)).toEqual(['house', '{"type":"openai","baseUrl":"http://127.0.0.1:9/v1"}', 'apiKey: env reference']);
    expect(await admin(gateway.adminUrl, 'GET', '/admin/providers/house')).toMatchObject({ entry: { apiKey: 'env:GW_CONSOLE_PROVIDER_KEY' } });
    // Saved, the form is empty for the next entry.
    expect(await page.getByLabel('Entry name').inputValue()).toBe('');

    await page.getByLabel('Kind').selectOption('models');
    await page.getByLabel('Entry name').fill('quick');
    await page.getByLabel('Entry (JSON)').fill('not json');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByText('The entry is not JSON').waitFor();
    await page.getByLabel('Entry (JSON)').fill(JSON.stringify({ deployments: [{ provider: 'house', model: 'gpt-4o-mini' }], fallbacks: ['smart'] }));
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('table', { name: 'Models added through the admin API' }).getByRole('row', { name: /quick/ }).waitFor();
    await deployments((data) => data.some((r) => r.model === 'quick'));
    await page.getByRole('button', { name: 'Refresh' }).click();
    // The group reaches its own deployment and its fallback's.
    await models
      .getByRole('row', { name: /^quick/ })
      .getByRole('cell', { name: 'house/gpt-4o-mini, mock/echo' })
      .waitFor();
    expect(
      await models
        .getByRole('row', { name: /^quick/ })
        .getByRole('cell')
        .last()
        .textContent(),
    ).toBe('admin API');
    // Neither the secret nor which secret it is: only its kind.
    expect(await page.content()).not.toContain(SECRET);
    expect(await page.content()).not.toContain('GW_CONSOLE_PROVIDER_KEY');
    await screenshot(page, 'providers');

    // Edited into an alias of smart.
    const quick = page.getByRole('table', { name: 'Models added through the admin API' }).getByRole('row', { name: /quick/ });
    await quick.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit quick' });
    // The form holds the entry as stored, so Save replaces it with exactly what was changed.
    const stored = await admin<{ entry: unknown }>(gateway.adminUrl, 'GET', '/admin/models/quick');
    expect(JSON.parse(await form.getByLabel('Entry (JSON)').inputValue())).toEqual(stored.entry);
    await form.getByLabel('Entry (JSON)').fill('"smart"');
    await form.getByRole('button', { name: 'Save' }).click();
    await quick.getByRole('cell', { name: '"smart"', exact: true }).waitFor();
    expect(await admin(gateway.adminUrl, 'GET', '/admin/models/quick')).toMatchObject({ entry: 'smart' });

    await quick.getByRole('button', { name: 'Remove' }).click();
    await quick.getByRole('button', { name: 'Remove quick now' }).click();
    await quick.waitFor({ state: 'detached' });
    await admin(gateway.adminUrl, 'GET', '/admin/models/quick', undefined, [404]);
  });

  it('shows a viewer providers and models read-only, and refuses its forged changes', async () => {
    await admin(gateway.adminUrl, 'PUT', '/admin/models/viewer-alias', 'smart');
    const { page } = await browser.signIn(VIEWER);
    await openPage(page, 'Providers');
    await page
      .getByRole('table', { name: 'Models added through the admin API' })
      .getByRole('row', { name: /viewer-alias/ })
      .waitFor();
    expect(await page.getByRole('form').count()).toBe(0);
    for (const name of ['Add', 'Edit', 'Remove']) expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
    const forged = await fetchInPage(page, 'PUT', '/admin/models/forged', { 'x-gateway-console': '1' }, 'smart');
    expect(forged.status).toBe(403);
    expect((await fetchInPage(page, 'DELETE', '/admin/models/viewer-alias', { 'x-gateway-console': '1' })).status).toBe(403);
    await admin(gateway.adminUrl, 'GET', '/admin/models/forged', undefined, [404]);
    await admin(gateway.adminUrl, 'GET', '/admin/models/viewer-alias');
  });
});
