import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { usd } from '../../services/console/app/money.js';
import { DOCS_VIEWPORT, fetchInPage, launchConsoleBrowser, openPage as open, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';

/**
 * Issue 29's teams, budgets and spend pages in Debian's Chromium: an owner
 * makes a team, a key in it and a budget, sends requests, and sees the
 * budget's bar and the spend page move as /admin/spend says; a viewer sees
 * budgets without their controls. The same run saves docs/console's screenshots.
 */

const VIEWER = testToken('viewer');

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;

describe('the console’s teams, budgets and spend pages', () => {
  beforeAll(async () => {
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      // $1,000 per million tokens: a short request costs cents, so the budget's bar visibly moves.
      pricing: { models: { 'mock/echo': { input: 1_000, output: 1_000 } } },
      governance: { adminTokens: [{ name: 'viewer-bot', token: VIEWER, role: 'viewer' }], quota: { syncIntervalMs: 200 } },
    });
    browser = await launchConsoleBrowser(gateway.adminUrl);
    // Another team with some spend, so the spend page has more than one bar.
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'support', name: 'Support' });
    const { key } = await gateway.createKey({ name: 'support-bot', team: 'support' });
    await gateway.client(key).chat.completions.create({ model: 'mock/echo', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('makes a team, a key in it and a budget, and shows the budget and spend move as requests are sent', async () => {
    const { page } = await browser.signIn(ADMIN_TOKEN, { viewport: DOCS_VIEWPORT });
    await page.getByRole('heading', { name: 'Keys' }).waitFor();

    await open(page, 'Teams');
    await page.getByLabel('Team name').fill('Research');
    await page.getByLabel('Team id').fill('research');
    await page.getByRole('button', { name: 'Create team' }).click();
    const team = page.getByRole('row', { name: /Research/ });
    await team.getByRole('button', { name: 'Edit' }).click();
    await team.getByLabel('RPM').fill('600');
    await team.getByRole('button', { name: 'Save' }).click();
    await team.getByRole('cell', { name: '600 rpm · ∞ tpm' }).waitFor();
    expect(await admin(gateway.adminUrl, 'GET', '/admin/teams/research')).toMatchObject({ name: 'Research', rpm_limit: 600 });

    await open(page, 'Keys');
    await page.getByLabel('Name').fill('research-bot');
    await page.getByLabel('Team').fill('research');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('New key').inputValue();
    recordSecret(key);
    await page.getByRole('button', { name: 'Done' }).click();
    await page
      .getByRole('row', { name: /research-bot/ })
      .getByRole('cell', { name: 'research', exact: true })
      .waitFor();
    await screenshot(page, 'keys');

    await open(page, 'Budgets');
    await page.getByLabel('For').selectOption({ label: 'Research' });
    await page.getByLabel('Period').selectOption('day');
    await page.getByLabel('Limit (USD)').fill('1');
    await page.getByRole('button', { name: 'Create budget' }).click();
    const budget = page.getByRole('row', { name: /team Research/ });
    await budget.getByTestId('spent').filter({ hasText: '$0.00' }).waitFor();
    const id = (await budget.getAttribute('data-budget-id'))!;
    const meter = budget.getByRole('meter');
    expect([await meter.getAttribute('value'), await meter.getAttribute('max')]).toEqual(['1', '1']);

    // Three requests with the official client; each one's cost is its tokens at $0.001.
    let cost = 0;
    for (let i = 0; i < 3; i++) {
      const answer = await gateway
        .client(key)
        .chat.completions.create({ model: 'mock/echo', max_tokens: 20, messages: [{ role: 'user', content: `research question ${i}` }] });
      cost += (answer.usage!.prompt_tokens + answer.usage!.completion_tokens) / 1_000;
    }
    const used = await eventually('the requests counted in the budget', async () => {
      const { window } = await admin<{ window: { used_usd: number } }>(gateway.adminUrl, 'GET', `/admin/budgets/${id}`);
      return window.used_usd >= cost - 1e-9 ? window.used_usd : undefined;
    });
    await page.getByRole('button', { name: 'Refresh' }).click();
    await budget
      .getByTestId('spent')
      .filter({ hasText: usd(used) })
      .waitFor();
    expect(Number(await meter.getAttribute('value'))).toBeCloseTo(1 - used, 9);
    expect(await budget.textContent()).toContain(usd(1 - used));
    await screenshot(page, 'budgets');

    // The limit raised to $2: the bar's scale and what is left follow, as the API has it.
    await budget.getByRole('button', { name: 'Edit limit' }).click();
    await budget.getByLabel('New limit (USD)').fill('2');
    await budget.getByRole('button', { name: 'Save' }).click();
    await budget.getByRole('cell', { name: '$2.00', exact: true }).waitFor();
    expect(await meter.getAttribute('max')).toBe('2');
    expect(Number(await meter.getAttribute('value'))).toBeCloseTo(2 - used, 9);
    expect(await admin(gateway.adminUrl, 'GET', `/admin/budgets/${id}`)).toMatchObject({ limit_usd: 2 });

    // The spend page shows the team's spend as /admin/spend sums it, once the ledger has the requests.
    const spend = await eventually('the requests in the ledger', async () => {
      const { data } = await admin<{ data: { team: string; cost_usd: string; requests: number }[] }>(gateway.adminUrl, 'GET', '/admin/spend?group_by=team');
      const research = data.find((r) => r.team === 'research');
      return research?.requests === 3 && data.some((r) => r.team === 'support') ? research : undefined;
    });
    expect(Number(spend.cost_usd)).toBeCloseTo(cost, 9);
    await open(page, 'Spend');
    const row = page.getByRole('table').getByRole('row', { name: /^research/ });
    await row.waitFor();
    expect(await row.getByRole('cell').allTextContents()).toEqual(['research', '3', expect.any(String), expect.any(String), usd(spend.cost_usd)]);
    expect(await page.getByRole('img', { name: 'Spend by team' }).textContent()).toContain(`research ${usd(spend.cost_usd)}`);
    // The CSV links download with the session: the table's figures, and every request.
    const table = await fetchInPage(page, 'GET', (await page.getByRole('link', { name: 'This table as CSV' }).getAttribute('href'))!, {});
    expect(table.text).toContain(`research,${spend.cost_usd},`);
    const ledger = await fetchInPage(page, 'GET', (await page.getByRole('link', { name: 'Every request in the range as CSV' }).getAttribute('href'))!, {});
    expect(ledger.text.split('\r\n').filter((line) => line.includes(',research,'))).toHaveLength(3);
    await screenshot(page, 'spend');

    // A team with keys cannot be deleted; its budget can.
    await open(page, 'Budgets');
    await budget.getByRole('button', { name: 'Delete' }).click();
    await budget.getByRole('button', { name: "Delete Research's day budget now" }).click();
    await budget.waitFor({ state: 'detached' });
    expect((await admin<{ data: unknown[] }>(gateway.adminUrl, 'GET', '/admin/budgets?scope_id=research')).data).toEqual([]);
  });

  it('makes and removes customers and teams, and says why a team with keys stays', async () => {
    const { page } = await browser.signIn(ADMIN_TOKEN);
    await open(page, 'Teams');
    await page.getByLabel('Customer name').fill('Globex');
    await page.getByLabel('Customer id').fill('globex');
    await page.getByRole('button', { name: 'Create customer' }).click();
    await page.getByRole('row', { name: /Globex/ }).waitFor();
    await page.getByLabel('Team name').fill('Globex ops');
    await page.getByRole('combobox', { name: /^Customer/ }).selectOption({ label: 'Globex' });
    await page.getByRole('button', { name: 'Create team' }).click();
    const team = page.getByRole('row', { name: /Globex ops/ });
    expect(await team.getByRole('cell').nth(2).textContent()).toBe('Globex');

    const support = page.getByRole('row', { name: /Support/ });
    await support.getByRole('button', { name: 'Delete' }).click();
    await support.getByRole('button', { name: 'Delete Support now' }).click();
    expect(await page.getByRole('alert').textContent()).toBe('Team support still has keys.');

    await team.getByRole('button', { name: 'Delete' }).click();
    await team.getByRole('button', { name: 'Delete Globex ops now' }).click();
    await team.waitFor({ state: 'detached' });
    const customer = page.getByRole('row', { name: /Globex/ });
    await customer.getByRole('button', { name: 'Delete' }).click();
    await customer.getByRole('button', { name: 'Delete Globex now' }).click();
    await customer.waitFor({ state: 'detached' });
    expect((await admin<{ data: { id: string }[] }>(gateway.adminUrl, 'GET', '/admin/customers')).data).toEqual([]);
  });

  it('shows a viewer budgets, teams and spend without their controls, and refuses its forged budget', async () => {
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'team', scope_id: 'support', limit_usd: 5, period: 'month' });
    const { page } = await browser.signIn(VIEWER, { viewport: { width: 390, height: 800 } });
    await page.getByTestId('who').filter({ hasText: 'viewer-bot (viewer)' }).waitFor();
    // By keyboard: the navigation's links take the focus and Enter follows them.
    await page.getByRole('link', { name: 'Budgets' }).focus();
    await page.keyboard.press('Enter');
    await page
      .getByRole('row', { name: /team Support/ })
      .getByRole('meter')
      .waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    for (const name of ['Create budget', 'Edit limit', 'Delete']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    await open(page, 'Teams');
    await page.getByRole('row', { name: /Support/ }).waitFor();
    for (const name of ['Create team', 'Create customer', 'Edit', 'Delete', 'Rename']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    await open(page, 'Spend');
    await page.getByRole('img', { name: 'Spend by team' }).waitFor();

    const forged = await fetchInPage(
      page,
      'POST',
      '/admin/budgets',
      { 'x-gateway-console': '1' },
      { scope: 'team', scope_id: 'support', limit_usd: 1, period: 'day' },
    );
    expect(forged.status).toBe(403);
    const [kept] = (await admin<{ data: { id: string }[] }>(gateway.adminUrl, 'GET', '/admin/budgets?scope_id=support')).data;
    expect((await fetchInPage(page, 'PATCH', `/admin/budgets/${kept!.id}`, { 'x-gateway-console': '1' }, { limit_usd: 100 })).status).toBe(403);
    expect(await admin(gateway.adminUrl, 'GET', `/admin/budgets/${kept!.id}`)).toMatchObject({ limit_usd: 5 });
  });
});
