import { GatewayError } from '../kit/errors.js';
import { BUDGET_DECIMALS, fromMicros, scaled } from '../kit/pricing/money.js';
import type { Charge } from './quota/book.js';
import { budgetWindow, FOREVER, rateWindow } from './quota/windows.js';
import type { Directory } from './store/directory.js';
import type { Rates } from './reservations.js';
import type { Budget, RateLimits, VirtualKey } from './store/entities.js';

/** Why a charge exists, to word a refusal and to settle it. */
export type ChargeKind = { kind: 'budget'; budget: Budget } | { kind: 'requests' | 'tokens' | 'concurrency' | 'tool_calls'; scope: 'key' | 'team'; id: string };

export interface Planned extends Charge {
  reason: ChargeKind;
}

/**
 * Everything one request counts against: the budgets of its key, team and
 * customer (its worst-case cost), and the request, token and concurrency
 * limits of its key and team. Budgets count whole micro-dollars (`costMicros`),
 * so their sums are exact.
 */
export function plan(directory: Directory, key: VirtualKey, costMicros: number, tokens: number, now: Date): Planned[] {
  const team = key.teamId ? directory.teams.get(key.teamId) : undefined;
  const customer = directory.customerOf(key);
  const charges: Planned[] = [];
  for (const budget of [...directory.budgetsFor('key', key.id), ...directory.budgetsFor('team', key.teamId), ...directory.budgetsFor('customer', customer)]) {
    charges.push({
      quota: `budget:${budget.id}`,
      window: budgetWindow(budget, now),
      limit: budgetMicros(budget.limitUsd),
      amount: costMicros,
      reason: { kind: 'budget', budget },
    });
  }
  const limited: ['key' | 'team', string, RateLimits | undefined][] = [
    ['key', key.id, key],
    ['team', key.teamId ?? '', team],
  ];
  for (const [scope, id, limits] of limited) {
    if (!limits) continue;
    const window = rateWindow(limits.rateWindowSeconds, now);
    if (limits.rpmLimit !== null)
      charges.push({ quota: `rpm:${scope}:${id}`, window, limit: limits.rpmLimit, amount: 1, reason: { kind: 'requests', scope, id } });
    if (limits.tpmLimit !== null)
      charges.push({ quota: `tpm:${scope}:${id}`, window, limit: limits.tpmLimit, amount: tokens, reason: { kind: 'tokens', scope, id } });
    if (limits.maxParallel !== null)
      charges.push({ quota: `conc:${scope}:${id}`, window: FOREVER, limit: limits.maxParallel, amount: 1, reason: { kind: 'concurrency', scope, id } });
  }
  return charges;
}

/** A budget's limit in whole micro-dollars (the admin API takes at most six decimals; an older, finer limit rounds down). */
export function budgetMicros(limitUsd: number): number {
  return Number(scaled(limitUsd, BUDGET_DECIMALS) ?? BigInt(Math.floor(limitUsd * 10 ** BUDGET_DECIMALS)));
}

/**
 * The most output tokens a call can have within what is left of a refused
 * charge: a budget's dollars after the prompt, or a token limit's tokens
 * after it; undefined for a charge output does not count against.
 */
export function affordableOutput(charge: Planned, remaining: number, rates: Rates): number | undefined {
  // Whole micro-dollars: what is left may hold a fraction of one from an older version's leases.
  if (charge.reason.kind === 'budget')
    return rates.outputPerToken > 0n ? Number((fromMicros(Math.floor(remaining)) - rates.prompt) / rates.outputPerToken) : undefined;
  if (charge.reason.kind === 'tokens') return Math.floor(remaining - rates.promptTokens);
  return undefined;
}

/** One MCP tool call against the key's tool-call limit, or nothing when it has none. */
export function toolCallCharge(key: VirtualKey, now: Date): Planned | undefined {
  if (key.toolCallLimit === null) return undefined;
  const reason: ChargeKind = { kind: 'tool_calls', scope: 'key', id: key.id };
  return { quota: `tools:key:${key.id}`, window: rateWindow(key.rateWindowSeconds, now), limit: key.toolCallLimit, amount: 1, reason };
}

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/** The x-ratelimit-* headers OpenAI clients read, from the key's (else the team's) request and token limits. */
export function rateHeaders(charges: readonly Planned[], remaining: (charge: Planned) => number, now: Date): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [kind, suffix] of [
    ['requests', 'requests'],
    ['tokens', 'tokens'],
  ] as const) {
    const charge = charges.find((c) => c.reason.kind === kind && c.reason.scope === 'key') ?? charges.find((c) => c.reason.kind === kind);
    if (!charge) continue;
    headers[`x-ratelimit-limit-${suffix}`] = String(charge.limit);
    headers[`x-ratelimit-remaining-${suffix}`] = String(Math.floor(remaining(charge)));
    headers[`x-ratelimit-reset-${suffix}`] = seconds(charge.window.end.getTime() - now.getTime());
  }
  return headers;
}

/** "daily", "monthly": a budget's period as English says it. */
const periodAdjective = (period: string) => (period === 'day' ? 'daily' : `${period}ly`);

/** The client-facing refusal for a charge that did not fit. */
export function refusal(charge: Planned, now: Date, headers: Record<string, string>): GatewayError {
  const reason = charge.reason;
  let error: GatewayError;
  if (reason.kind === 'budget') {
    const b = reason.budget;
    error = new GatewayError(
      'budget_exceeded',
      `The ${periodAdjective(b.period)} budget of ${b.scope} ${b.scopeId} ($${b.limitUsd}) does not cover this request; it resets at ${charge.window.end.toISOString()}.`,
    );
  } else if (reason.kind === 'concurrency') {
    error = new GatewayError(
      'concurrency_limit_exceeded',
      `Too many requests in flight for ${reason.scope} ${reason.id} (limit ${charge.limit}); retry when one finishes.`,
    );
  } else {
    const unit = reason.kind === 'tool_calls' ? 'tool calls' : reason.kind;
    error = new GatewayError(
      'rate_limit_exceeded',
      `Rate limit reached for ${reason.scope} ${reason.id}: ${charge.limit} ${unit} per ${Math.round((charge.window.end.getTime() - charge.window.start.getTime()) / 1000)}s.`,
    );
  }
  error.headers = { ...headers };
  if (reason.kind !== 'concurrency') error.headers['retry-after'] = String(Math.max(1, Math.ceil((charge.window.end.getTime() - now.getTime()) / 1000)));
  return error;
}
