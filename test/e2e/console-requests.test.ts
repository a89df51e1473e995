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
const RESEARCH_VIEWER = testToken('research-viewer');

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
          { name: 'research-viewer', token: RESEARCH_VIEWER, role: 'viewer', team: 'research' },
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
    // Every read after the first asks only for what is new: the cursor the previous read gave, no time range.
    const reads: URL[] = [];
    page.on('request', (request) => request.url().includes('/admin/usage/recent') && reads.push(new URL(request.url())));
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

    // Later polls bring nothing twice: after two more reads the page still shows each request once.
    const readsSoFar = reads.length;
    await expect.poll(() => reads.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(readsSoFar + 2);
    expect(await records.count()).toBe(3);
    expect(reads[0]!.searchParams.has('from') && !reads[0]!.searchParams.has('cursor')).toBe(true);
    expect(reads.slice(1).every((url) => /^\d+$/.test(url.searchParams.get('cursor') ?? '') && !url.searchParams.has('from'))).toBe(true);
    // One more request shows up on top of them, once.
    const { response: another } = await client.chat.completions
      .create({ model: 'mock/echo', messages: [{ role: 'user', content: 'one more' }] })
      .withResponse();
    await table.locator(`tr[data-record-id="${another.headers.get('x-request-id')}"]`).waitFor();
    expect(await records.count()).toBe(4);
    await expect.poll(() => reads.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(reads.length + 1);
    expect(await records.count()).toBe(4);

    // Filtered by status, then by a model: only what matches stays.
    await page.getByLabel('Status').fill('completed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await table.locator(`tr[data-record-id="${failed.request_id}"]`).waitFor({ state: 'detached' });
    expect(await records.count()).toBe(3);
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
    await records.nth(3).waitFor();
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

  it('reads the ledger by cursor: only what is new, filtered and scoped by the server', async () => {
    const recent = async (token: string, query: string) => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/recent?${query}`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      return (await response.json()) as { data: Usage[]; next_cursor: string };
    };
    const send = async (key: string, content: string) => {
      const { response } = await gateway
        .client(key)
        .chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content }] })
        .withResponse();
      return response.headers.get('x-request-id')!;
    };
    const start = await recent(ADMIN_TOKEN, 'limit=1');
    const inTeam = await gateway.createKey({ name: 'cursor-team', team: 'research' });
    const elsewhere = await gateway.createKey({ name: 'cursor-elsewhere' });
    const sent = [await send(inTeam.key, 'cursor one'), await send(elsewhere.key, 'cursor two'), await send(inTeam.key, 'cursor three')];
    await ledger(inTeam.id, 2);
    await ledger(elsewhere.id, 1);

    // After the cursor: the three, in the order recorded, and then nothing until more come.
    const next = await recent(ADMIN_TOKEN, `cursor=${start.next_cursor}`);
    expect(next.data.map((u) => u.request_id).sort()).toEqual([...sent].sort());
    expect((await recent(ADMIN_TOKEN, `cursor=${next.next_cursor}`)).data).toEqual([]);
    // Cut short by limit, a read goes on from its last row: every row once.
    const first = await recent(ADMIN_TOKEN, `cursor=${start.next_cursor}&limit=2`);
    const rest = await recent(ADMIN_TOKEN, `cursor=${first.next_cursor}&limit=2`);
    expect([...first.data, ...rest.data].map((u) => u.request_id)).toEqual(next.data.map((u) => u.request_id));
    // Filtered by key, the cursor still moves past the rows it skipped.
    const byKey = await recent(ADMIN_TOKEN, `cursor=${start.next_cursor}&key=${elsewhere.id}`);
    expect(byKey.data.map((u) => u.request_id)).toEqual([sent[1]]);
    expect(byKey.next_cursor).toBe(next.next_cursor);
    // A team's token sees its team's requests only, whatever it asks for.
    const scoped = await recent(RESEARCH_VIEWER, `cursor=${start.next_cursor}`);
    expect(scoped.data.map((u) => u.request_id).sort()).toEqual([sent[0], sent[2]].sort());
    expect((await recent(RESEARCH_VIEWER, `cursor=${start.next_cursor}&key=${elsewhere.id}`)).data).toEqual([]);
    const other = await fetch(`${gateway.adminUrl}/admin/usage/recent?team=other`, { headers: { authorization: `Bearer ${RESEARCH_VIEWER}` } });
    expect(other.status).toBe(403);
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
    expect((await fetchInPage(auditor.page, 'GET', '/admin/usage/recent', {})).status).toBe(403);
  });
});
