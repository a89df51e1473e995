import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import type { Database } from '../../kit/db/types.js';
import { BUDGET_DECIMALS } from '../../kit/pricing/money.js';
import type { Budget } from '../store/entities.js';
import { budgetMicros } from '../admission.js';
import { CARRIED } from './ledger.js';
import { budgetWindow } from './windows.js';

/**
 * What each budget's current window has spent (and of it, carried in from
 * elsewhere), in micro-dollars, as the shared
 * ledger holds it: every replica's reported use (it lags this replica's
 * unreported use by at most quota.syncIntervalMs).
 */
export async function budgetSpend(db: Database, budgets: readonly Budget[], now: Date): Promise<Map<string, { used: number; carried: number }>> {
  const spent = new Map<string, { used: number; carried: number }>();
  if (budgets.length === 0) return spent;
  const quotas = budgets.map((b) => `budget:${b.id}`);
  const starts = budgets.map((b) => budgetWindow(b, now).start);
  const { rows } = await db.query<{ quota: string; used: string; carried: string }>(
    `SELECT l.quota, SUM(l.used) AS used, COALESCE(SUM(l.used) FILTER (WHERE l.holder = $3), 0) AS carried
       FROM quota_leases l JOIN unnest($1::text[], $2::timestamptz[]) AS w(quota, window_start)
         ON l.quota = w.quota AND l.window_start = w.window_start
      GROUP BY l.quota`,
    [quotas, starts, CARRIED],
  );
  for (const row of rows) spent.set(row.quota.slice('budget:'.length), { used: Number(row.used), carried: Number(row.carried) });
  return spent;
}

export const fromBudgetMicros = (micros: number): number => micros / 10 ** BUDGET_DECIMALS;

/**
 * gateway_budget_spent_ratio: the share of each budget's current window spent,
 * read from the ledger when scraped, so an alert fires before requests are refused.
 * A series per budget: budgets are made by admins, so their number is theirs to bound.
 */
export function registerBudgetGauge(metrics: Registry, db: Database, budgets: () => readonly Budget[], now: () => Date = () => new Date()): void {
  new Gauge({
    name: 'gateway_budget_spent_ratio',
    help: "Share of each budget's current window spent (1 = the limit), as the shared quota ledger holds it; lags by at most governance.quota.syncIntervalMs.",
    labelNames: ['budget', 'scope', 'scope_id', 'period'],
    registers: [metrics],
    async collect() {
      const all = budgets();
      const spent = await budgetSpend(db, all, now());
      this.reset();
      for (const b of all) {
        const limit = budgetMicros(b.limitUsd);
        this.set({ budget: b.id, scope: b.scope, scope_id: b.scopeId, period: b.period }, limit > 0 ? (spent.get(b.id)?.used ?? 0) / limit : 1);
      }
    },
  });
}
