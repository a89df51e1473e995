import type { FastifyInstance } from 'fastify';
import { canSee, type Principal, type RecordChange } from '../../kit/admin.js';
import type { Database } from '../../kit/db/types.js';
import { GatewayError } from '../../kit/errors.js';
import { prefixedId } from '../../kit/ids.js';
import { BUDGET_DECIMALS, scaled } from '../../kit/pricing/money.js';
import { budgetMicros } from '../admission.js';
import { budgetSpend, fromBudgetMicros } from '../quota/budget-spend.js';
import { carrySpend } from '../quota/ledger.js';
import { addPeriods, budgetWindow } from '../quota/windows.js';
import type { Directory } from '../store/directory.js';
import type { Budget, Customer, Team, VirtualKey } from '../store/entities.js';
import { governsBudgetOn } from './principals.js';
import { budgetBody, idParams, LIMIT_USD } from './schemas.js';
import { budgetView, visible, type Place } from './views.js';

type Body = Record<string, unknown>;
type WithId = { Params: { id: string } };

/** An amount in USD as given, when it has at most the decimals budgets count in. */
function budgetLimit(usd: number, param = 'limit_usd'): number {
  if (scaled(usd, BUDGET_DECIMALS) === undefined)
    throw new GatewayError('invalid_request', `${param} has at most ${BUDGET_DECIMALS} decimals (budgets count whole micro-dollars).`, { param });
  return usd;
}

/**
 * Where a rolling budget's windows count from: now, or, for a budget carried
 * from another system with a window under way, one period before that window's end.
 */
function rollingAnchor(endsAt: string | undefined, period: Budget['period'], alignment: Budget['alignment'], now: Date): Date {
  if (endsAt === undefined) return now;
  const param = 'current_window_ends_at';
  if (alignment !== 'rolling') throw new GatewayError('invalid_request', `${param} is for rolling budgets (alignment: "rolling").`, { param });
  const end = new Date(endsAt);
  const start = addPeriods(end, period, -1);
  if (!(end > now && start <= now))
    throw new GatewayError('invalid_request', `${param} must be after now and at most one ${period} away (${end.toISOString()} is not).`, { param });
  return start;
}

export function registerBudgetRoutes(app: FastifyInstance, directory: Directory, db: Database, record: RecordChange, place: Place): void {
  const budgets = { tags: ['budgets'] };
  /** A budget is set, changed and removed from above its scope only (governsBudgetOn). */
  const mayGovern = (who: Principal, scope: Budget['scope']) => {
    if (!governsBudgetOn(who, scope)) {
      throw new GatewayError(
        'admin_forbidden',
        `A budget on a ${scope} is set, changed and removed by the admins above it; this token is scoped to ${who.team ? `team ${who.team}` : `customer ${who.customer}`}.`,
      );
    }
  };
  const scopeTable = (scope: Budget['scope']) => (scope === 'key' ? directory.keys : scope === 'team' ? directory.teams : directory.customers);
  app.get<{ Querystring: { scope?: string; scope_id?: string } }>(
    '/admin/budgets',
    { config: { requires: 'read' }, schema: { ...budgets, summary: 'List budgets' } },
    async (request) => {
      const who = request.principal!;
      const { scope, scope_id } = request.query;
      const list = directory.budgets
        .all()
        .filter((b) => canSee(who, place.budget(b)) && (!scope || b.scope === scope) && (!scope_id || b.scopeId === scope_id));
      return { data: list.map(budgetView) };
    },
  );
  app.post<{ Body: Body }>(
    '/admin/budgets',
    { config: { requires: 'write' }, schema: { ...budgets, summary: 'Set a budget on a key, team or customer', body: budgetBody } },
    async (request, reply) => {
      const who = request.principal!;
      const body = request.body;
      const scope = body.scope as Budget['scope'];
      const scopeId = body.scope_id as string;
      const owner = (await scopeTable(scope).find(scopeId)) as Customer | Team | VirtualKey | undefined;
      const where = owner
        ? scope === 'key'
          ? place.key(owner as VirtualKey)
          : scope === 'team'
            ? place.team(owner as Team)
            : place.customer(owner as Customer)
        : undefined;
      if (!owner || !where || !canSee(who, where)) throw new GatewayError('not_found', `No ${scope} with id ${scopeId}.`, { param: 'scope_id' });
      mayGovern(who, scope);
      if (directory.budgetsFor(scope, scopeId).some((b) => b.period === body.period))
        throw new GatewayError('conflict', `${scope} ${scopeId} already has a ${String(body.period)} budget.`);
      const now = new Date();
      const period = body.period as Budget['period'];
      const alignment = (body.alignment as Budget['alignment'] | undefined) ?? 'calendar';
      const budget: Budget = {
        id: prefixedId('bud'),
        scope,
        scopeId,
        limitUsd: budgetLimit(body.limit_usd as number),
        period,
        alignment,
        anchor: rollingAnchor(body.current_window_ends_at as string | undefined, period, alignment, now),
        createdAt: now,
      };
      const created = await directory.budgets.insert(budget);
      record(who, 'budget', 'create', created.id, undefined, budgetView(created));
      return reply.code(201).send(budgetView(created));
    },
  );
  app.get<WithId>(
    '/admin/budgets/:id',
    { config: { requires: 'read' }, schema: { ...budgets, summary: 'Get a budget with its current window', params: idParams } },
    async (request) => {
      const budget = await visible(directory.budgets, place.budget, request.principal!, request.params.id, 'budget');
      const now = new Date();
      const window = budgetWindow(budget, now);
      const { used, carried } = (await budgetSpend(db, [budget], now)).get(budget.id) ?? { used: 0, carried: 0 };
      return {
        ...budgetView(budget),
        window: { start: window.start.toISOString(), end: window.end.toISOString(), used_usd: fromBudgetMicros(used), carried_usd: fromBudgetMicros(carried) },
      };
    },
  );
  app.put<WithId & { Body: { spend_usd: number } }>(
    '/admin/budgets/:id/carried-spend',
    {
      // Lowering it lets a scope spend again what it spent elsewhere: the unscoped owner's alone, as key imports are.
      config: { requires: 'manage_customers' },
      schema: {
        ...budgets,
        summary: "Set the spend carried into a budget's current window from another system (owner only)",
        params: idParams,
        body: { type: 'object', additionalProperties: false, required: ['spend_usd'], properties: { spend_usd: { ...LIMIT_USD, minimum: 0 } } },
      },
    },
    async (request) => {
      const who = request.principal!;
      const budget = await visible(directory.budgets, place.budget, who, request.params.id, 'budget');
      const window = budgetWindow(budget, new Date());
      const amount = budgetMicros(budgetLimit(request.body.spend_usd, 'spend_usd'));
      const before = await carrySpend(db, `budget:${budget.id}`, window.start, budgetMicros(budget.limitUsd), amount);
      const view = (micros: number) => ({ window_start: window.start.toISOString(), carried_usd: fromBudgetMicros(micros) });
      if (before !== amount) record(who, 'budget', 'carry_spend', budget.id, view(before), view(amount));
      return { ...budgetView(budget), window: { start: window.start.toISOString(), end: window.end.toISOString(), ...view(amount) } };
    },
  );
  app.patch<WithId & { Body: { limit_usd?: number } }>(
    '/admin/budgets/:id',
    {
      config: { requires: 'write' },
      schema: {
        ...budgets,
        summary: "Change a budget's limit",
        params: idParams,
        body: { type: 'object', additionalProperties: false, required: ['limit_usd'], properties: { limit_usd: LIMIT_USD } },
      },
    },
    async (request) => {
      const who = request.principal!;
      mayGovern(who, (await visible(directory.budgets, place.budget, who, request.params.id, 'budget')).scope);
      const changed = (await directory.budgets.update(request.params.id, { limitUsd: budgetLimit(request.body.limit_usd!) }))!;
      record(who, 'budget', 'update', request.params.id, budgetView(changed.before), budgetView(changed.after));
      return budgetView(changed.after);
    },
  );
  app.delete<WithId>(
    '/admin/budgets/:id',
    { config: { requires: 'write' }, schema: { ...budgets, summary: 'Remove a budget', params: idParams } },
    async (request, reply) => {
      const who = request.principal!;
      const budget = await visible(directory.budgets, place.budget, who, request.params.id, 'budget');
      mayGovern(who, budget.scope);
      await directory.budgets.delete(budget.id);
      record(who, 'budget', 'delete', budget.id, budgetView(budget), undefined);
      return reply.code(204).send();
    },
  );
}
