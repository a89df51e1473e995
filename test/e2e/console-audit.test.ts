import { APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_VIEWPORT, fetchInPage, launchConsoleBrowser, openPage, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

/**
 * Issue 29's audit page in Debian's Chromium: an auditor searches the log by
 * key, status and time, opens a record whole and sees the chain's head; a
 * viewer is offered no audit page, and the server refuses it the log, as it
 * refuses the auditor keys.
 */

const AUDITOR = testToken('auditor');
const VIEWER = testToken('viewer');

interface Row {
  seq: number;
  request_id: string;
  event_type: string;
}

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;
let keyId: string;
/** The status the gateway answered the request for a model it does not serve. */
let refused: number;

describe('the console’s audit page', () => {
  beforeAll(async () => {
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      governance: {
        adminTokens: [
          { name: 'audit-bot', token: AUDITOR, role: 'auditor' },
          { name: 'viewer-bot', token: VIEWER, role: 'viewer' },
        ],
      },
    });
    browser = await launchConsoleBrowser(gateway.adminUrl);
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'research', name: 'Research' });
    const created = await gateway.createKey({ name: 'research-bot', team: 'research' });
    keyId = created.id;
    const client = gateway.client(created.key);
    for (const content of ['first', 'second'])
      await client.chat.completions.create({ model: 'mock/echo', max_tokens: 20, messages: [{ role: 'user', content }] });
    const failure = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(APIError);
    refused = (failure as APIError).status!;
    // The audit log is written from the event stream: wait until it holds the three requests.
    await eventually('the requests in the audit log', async () => {
      const { data } = await admin<{ data: Row[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?type=request.*&key=${keyId}`);
      return data.length === 3 ? data : undefined;
    });
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('lets an auditor search the log, open a record whole, see the chain’s head and verify it', async () => {
    const { page } = await browser.signIn(AUDITOR, { viewport: DOCS_VIEWPORT });
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    // An auditor may read nothing but the audit log: its only page.
    expect(await page.getByRole('navigation').getByRole('link').allTextContents()).toEqual(['Audit']);

    // The head shown is a real record's: its position and the start of its hash.
    const shown = (await page.getByTestId('chain-head').textContent())!.match(/record #(\d+), hash ([0-9a-f]{16})…/)!;
    const { data: at } = await admin<{ data: { seq: number; hash: string }[] }>(
      gateway.adminUrl,
      'GET',
      `/admin/audit/events?cursor=${Number(shown[1]) - 1}&limit=1`,
    );
    expect(at[0]).toMatchObject({ seq: Number(shown[1]), hash: expect.stringMatching(new RegExp(`^${shown[2]}`)) });
    expect(shown[0]).toBeTruthy();

    // The whole chain walked on request, as the API reports it.
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    const verdict = (await page.getByTestId('chain-verdict').textContent())!;
    const checked = await admin<{ ok: boolean; rows: number }>(gateway.adminUrl, 'POST', '/admin/audit/verify');
    expect(checked.ok).toBe(true);
    expect(verdict).toMatch(/^Intact: (\d+) records to #(\d+)/);
    // The log may grow between the two walks (the verification itself is not recorded, but requests may be).
    expect(Number(/^Intact: (\d+)/.exec(verdict)![1])).toBeLessThanOrEqual(checked.rows);

    // By key: the key's three requests, oldest first, as the API lists them.
    await page.getByLabel('Key').fill(keyId);
    await page.getByLabel('Type').fill('request.*');
    await page.getByRole('button', { name: 'Search' }).click();
    const table = page.getByRole('table', { name: 'Audit records' });
    const { data: expected } = await admin<{ data: Row[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?type=request.*&key=${keyId}`);
    await table.getByRole('row').nth(expected.length).waitFor();
    expect(await table.locator('tbody tr[data-record-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-record-id')))).toEqual(
      expected.map((r) => String(r.seq)),
    );
    await screenshot(page, 'audit');

    // A record opens whole on click: the very JSON the API returns for it.
    const last = expected.at(-1)!;
    await table.getByRole('button', { name: `#${last.seq}` }).click();
    const record = JSON.parse(
      (await page
        .getByRole('figure', { name: `Record ${last.seq}` })
        .locator('pre')
        .textContent())!,
    ) as Row & { hash: string; payload: unknown };
    expect(record).toEqual(last);
    expect(record.hash).toMatch(/^[0-9a-f]{64}$/);

    // By status: only the refused request.
    await page.getByLabel('Status').fill(String(refused));
    await page.getByRole('button', { name: 'Search' }).click();
    await table.locator('tbody tr[data-record-id]').nth(1).waitFor({ state: 'detached' });
    expect(await table.locator('tbody tr[data-record-id]').count()).toBe(1);
    expect(await table.locator('tbody tr[data-record-id]').first().textContent()).toContain(String(refused));

    // By time: nothing after now.
    await page.getByLabel('Status').fill('');
    await page.getByLabel('From').fill('2099-01-01T00:00:00');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No audit record matches.').waitFor();

    // The export link downloads the search's records with the session.
    const ndjson = await fetchInPage(page, 'GET', (await page.getByRole('link', { name: 'Export NDJSON' }).getAttribute('href'))!, {});
    expect(ndjson).toEqual({ status: 200, text: '' });

    // The server, not the page, keeps an auditor from keys.
    expect((await fetchInPage(page, 'GET', '/admin/keys', {})).status).toBe(403);
  });

  it('pages through a long search 50 records at a time, in the API’s order', async () => {
    for (let i = 0; i < 55; i++) await admin(gateway.adminUrl, 'POST', '/admin/customers', { id: `paged-${i}`, name: `Paged ${i}` });
    const { data: expected } = await eventually('the changes in the audit log', async () => {
      const page = await admin<{ data: Row[] }>(gateway.adminUrl, 'GET', '/admin/audit/events?type=admin.>&limit=1000');
      return page.data.filter((r) => r.event_type === 'admin.customer.create').length === 55 ? page : undefined;
    });
    const { page } = await browser.signIn(AUDITOR);
    await page.getByLabel('Type').fill('admin.>');
    await page.getByRole('button', { name: 'Search' }).click();
    const records = page.getByRole('table', { name: 'Audit records' }).locator('tbody tr[data-record-id]');
    // The search's own first page, not the unfiltered one the page opened with.
    await expect.poll(() => records.first().getAttribute('data-record-id')).toBe(String(expected[0]!.seq));
    await records.nth(49).waitFor();
    expect(await records.count()).toBe(50);
    await page.getByRole('button', { name: 'Next 50' }).click();
    await records.nth(expected.length - 1).waitFor();
    expect(await records.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-record-id')))).toEqual(expected.map((r) => String(r.seq)));
    // Two pages hold them all, and the last offers no more.
    expect(expected.length).toBeLessThanOrEqual(100);
    expect(await page.getByRole('button', { name: 'Next 50' }).count()).toBe(0);
  });

  it('offers a viewer no audit page, and the server refuses it the log', async () => {
    const { page } = await browser.signIn(VIEWER);
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    expect(await page.getByRole('navigation').getByRole('link', { name: 'Audit' }).count()).toBe(0);
    // The page's address alone does not open it.
    await page.goto(`${gateway.adminUrl}/console/#audit`);
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    for (const path of ['/admin/audit/events', '/admin/audit/head', '/admin/audit/export']) expect((await fetchInPage(page, 'GET', path, {})).status).toBe(403);
    await openPage(page, 'Spend');
    await page.getByRole('heading', { name: 'Spend' }).waitFor();
  });
});
