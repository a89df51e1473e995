import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startInProcess, type TestGateway } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

/** The value of gateway_budget_spent_ratio for one budget, or undefined when the scrape has no series for it. */
async function spentRatio(opsUrl: string, budget: string): Promise<number | undefined> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('gateway_budget_spent_ratio{') && l.includes(`budget="${budget}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

// An operator is warned before a budget refuses requests: the gauge follows what the budget's window has spent.
describe('gateway_budget_spent_ratio', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startInProcess({
      routing: { providers: { mock: { type: 'mock' } } },
      // $1 per token both ways: a few tokens are a visible share of a $1,000 budget.
      pricing: { models: { 'mock/echo': { input: 1_000_000, output: 1_000_000 } } },
    });
  });
  afterAll(async () => gateway?.stop());

  it('reports each budget from zero, then the share its window has spent, the same as the admin API', async () => {
    const key = await gateway.createKey({ name: 'watched' });
    const { id: budgetId } = await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/budgets', {
      scope: 'key',
      scope_id: key.id,
      limit_usd: 1000,
      period: 'month',
    });
    expect(await spentRatio(gateway.opsUrl, budgetId)).toBe(0);

    const answer = await gateway.client(key.key).chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'count me' }] });
    const tokens = answer.usage!.prompt_tokens + answer.usage!.completion_tokens;
    expect(tokens).toBeGreaterThan(0);

    // The ledger has the request once the governance replica reported its use (quota.syncIntervalMs).
    const ratio = await eventually('the spend in the gauge', async () => {
      const value = await spentRatio(gateway.opsUrl, budgetId);
      return value && value > 0 ? value : undefined;
    });
    expect(ratio).toBeCloseTo(tokens / 1000, 9);
    const { window } = await admin<{ window: { used_usd: number } }>(gateway.adminUrl, 'GET', `/admin/budgets/${budgetId}`);
    expect(window.used_usd).toBeCloseTo(ratio * 1000, 6);
  });

  it('drops a removed budget from the next scrape', async () => {
    const key = await gateway.createKey({ name: 'short-lived' });
    const { id: budgetId } = await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/budgets', {
      scope: 'key',
      scope_id: key.id,
      limit_usd: 5,
      period: 'day',
    });
    expect(await spentRatio(gateway.opsUrl, budgetId)).toBe(0);
    await admin(gateway.adminUrl, 'DELETE', `/admin/budgets/${budgetId}`);
    await eventually('the budget gone from the scrape', async () => ((await spentRatio(gateway.opsUrl, budgetId)) === undefined ? true : undefined));
  });
});
