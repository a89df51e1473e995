import { APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Usage } from '../../services/console/app/api.js';
import { usd } from '../../services/console/app/money.js';
import { DOCS_VIEWPORT, fetchInPage, launchConsoleBrowser, openPage, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

/**
 * Issue 29's live requests in Debian's Chromium: requests sent with the
 * official client while the page is open appear on it without a reload, with
 * their model, deployment, key, team, status, latency, tokens, cost and cache
 * hit as the usage ledger has them; filters narrow them; a request opens whole,
 * with its audit rows for an owner and without them for a viewer; an auditor,
 * who may not read usage, gets neither page nor data.
 */

const VIEWER = testToken('viewer');
const AUDITOR = testToken('auditor');

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;

/** The ledger's rows for a key, through the admin API, once it holds `count` of them. */
const ledger = (keyId: string, count: number) =>
  eventually(`${count} requests in the ledger`, async () => {
    const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const rows = (await response.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Usage);
    return rows.length === count ? rows : undefined;
  });

describe('the console’s live requests', () => {
  beforeAll(async () => {
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      pricing: { models: { 'mock/echo': { input: 1_000, output: 1_000 } } },
      governance: {
        adminTokens: [
          { name: 'viewer-bot', token: VIEWER, role: 'viewer' },
          { name: 'audit-bot', token: AUDITOR, role: 'auditor' },
        ],
      },
    });
    browser = await launchConsoleBrowser(gateway.adminUrl);
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'research', name: 'Research' });
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('shows requests as they finish, filters them, and opens one with its audit rows', async () => {
    const { page } = await browser.signIn(ADMIN_TOKEN, { viewport: DOCS_VIEWPORT });
    await openPage(page, 'Live requests');
    await page.getByText('No request finished in the last 15 minutes yet.').waitFor();

    // Sent while the page is open: the same question twice (the second from the cache), and one for no model.
    const { id: keyId, key } = await gateway.createKey({ name: 'live-bot', team: 'research' });
    const client = gateway.client(key);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { response } = await client.chat.completions
        .create({ model: 'mock/echo', temperature: 0, max_tokens: 20, messages: [{ role: 'user', content: 'live question' }] })
        .withResponse();
      ids.push(response.headers.get('x-request-id')!);
    }
    const failure = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(APIError);
    const rows = await ledger(keyId, 3);
    const [miss, hit] = ids.map((id) => rows.find((r) => r.request_id === id)!);
    const failed = rows.find((r) => r.outcome === 'failed')!;
    expect([miss!.cache_hit, hit!.cache_hit, failed.http_status]).toEqual([false, true, (failure as APIError).status]);

    // They appear by polling, newest first, each row as the ledger has it.
    const table = page.getByRole('table', { name: 'Requests' });
    const records = table.locator('tbody tr[data-record-id]');
    await records.nth(2).waitFor();
    const byFinish = [...rows].sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at));
    expect(await records.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-record-id')))).toEqual(byFinish.map((r) => r.request_id));
    const cells = async (id: string) => (await table.locator(`tr[data-record-id="${id}"] td`).allTextContents()).slice(1);
    expect(await cells(hit!.request_id)).toEqual([
      'mock/echo',
      `mock · ${hit!.deployment}`,
      'live-bot',
      'research',
      'completed 200',
      `${Math.round(hit!.duration_ms)} ms`,
      `${hit!.prompt_tokens} + ${hit!.completion_tokens}`,
      usd(hit!.cost_usd!),
      'hit',
    ]);
    expect(await cells(miss!.request_id)).toEqual(expect.arrayContaining([usd(miss!.cost_usd!), '—']));
    expect((await cells(failed.request_id))[4]).toBe(`failed ${failed.http_status}`);
    await screenshot(page, 'requests');

    // Filtered by status, then by a model: only what matches stays.
    await page.getByLabel('Status').fill('completed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await table.locator(`tr[data-record-id="${failed.request_id}"]`).waitFor({ state: 'detached' });
    expect(await records.count()).toBe(2);
    await page.getByLabel('Status').fill('');
    await page.getByLabel('Model').fill('no-such-model');
    await page.getByRole('button', { name: 'Filter' }).click();
    await table.locator(`tr[data-record-id="${miss!.request_id}"]`).waitFor({ state: 'detached' });
    await table.locator(`tr[data-record-id="${failed.request_id}"]`).waitFor();
    expect(await records.count()).toBe(1);

    // A request opens whole: the ledger's row, and for an owner its rows in the audit log.
    await page.getByLabel('Model').fill('');
    await page.getByLabel('Key').fill(keyId);
    await page.getByRole('button', { name: 'Filter' }).click();
    await records.nth(2).waitFor();
    await table.locator(`tr[data-record-id="${hit!.request_id}"]`).getByRole('button').click();
    const whole = JSON.parse(
      (await page
        .getByRole('figure', { name: `Record ${hit!.request_id}` })
        .locator('pre')
        .textContent())!,
    ) as Usage;
    expect(whole).toEqual(hit);
    const audit = page.getByRole('figure', { name: `Audit log for ${hit!.request_id}` }).locator('pre');
    await audit.filter({ hasText: 'request.completed' }).waitFor();
    expect((JSON.parse((await audit.textContent())!) as { request_id: string }[]).every((r) => r.request_id === hit!.request_id)).toBe(true);
  });

  it('shows a viewer requests without their audit rows, and an auditor neither', async () => {
    const { key } = await gateway.createKey({ name: 'viewer-seen' });
    const { response } = await gateway
      .client(key)
      .chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'seen by a viewer' }] })
      .withResponse();
    const id = response.headers.get('x-request-id')!;
    const { page } = await browser.signIn(VIEWER);
    await openPage(page, 'Live requests');
    const row = page.locator(`tr[data-record-id="${id}"]`);
    await row.getByRole('button').click();
    await page.getByRole('figure', { name: `Record ${id}` }).waitFor();
    expect(await page.getByRole('figure', { name: `Audit log for ${id}` }).count()).toBe(0);

    const auditor = await browser.signIn(AUDITOR);
    await auditor.page.getByRole('heading', { name: 'Audit log' }).waitFor();
    expect(await auditor.page.getByRole('link', { name: 'Live requests' }).count()).toBe(0);
    expect((await fetchInPage(auditor.page, 'GET', '/admin/usage/export', {})).status).toBe(403);
  });
});
