import type { Directory } from '../store/directory.js';
import type { Budget, CodeLimits, Customer, RateLimits, Team, VirtualKey } from '../store/entities.js';
import { canSee, type Placement, type Principal } from '../../kit/admin.js';
import { GatewayError } from '../../kit/errors.js';
import type { Table } from '../store/table.js';

/**
 * The admin API's JSON: snake_case fields, never a key's value or hash. The
 * same views are the before/after of admin events.
 */

const iso = (date: Date | null) => date?.toISOString() ?? null;

const limitsView = (l: RateLimits) => ({
  rpm_limit: l.rpmLimit,
  tpm_limit: l.tpmLimit,
  max_parallel: l.maxParallel,
  rate_window_seconds: l.rateWindowSeconds,
});

export const customerView = (c: Customer) => ({ id: c.id, name: c.name, metadata: c.metadata, created_at: iso(c.createdAt) });

export const teamView = (t: Team) => ({ id: t.id, name: t.name, customer: t.customerId, metadata: t.metadata, ...limitsView(t), created_at: iso(t.createdAt) });

export const keyView = (k: VirtualKey) => ({
  id: k.id,
  name: k.name,
  team: k.teamId,
  customer: k.customerId,
  allowed_models: k.allowedModels,
  allowed_tools: k.allowedTools,
  ...limitsView(k),
  metadata: k.metadata,
  content_logging: k.contentLogging,
  cache_scope: k.cacheScope,
  tool_mode: k.toolMode,
  tool_call_limit: k.toolCallLimit,
  code_limits: {
    time_ms: k.codeLimits.timeMs ?? null,
    memory_mb: k.codeLimits.memoryMb ?? null,
    max_tool_calls: k.codeLimits.maxToolCalls ?? null,
    max_result_bytes: k.codeLimits.maxResultBytes ?? null,
  },
  created_at: iso(k.createdAt),
  expires_at: iso(k.expiresAt),
  revoked_at: iso(k.revokedAt),
});

export const budgetView = (b: Budget) => ({
  id: b.id,
  scope: b.scope,
  scope_id: b.scopeId,
  limit_usd: b.limitUsd,
  period: b.period,
  alignment: b.alignment,
  anchor: iso(b.anchor),
  created_at: iso(b.createdAt),
});

export const NO_LIMITS: RateLimits = { rpmLimit: null, tpmLimit: null, maxParallel: null, rateWindowSeconds: 60 };

/** A new key from an admin request's body, its hash and placement decided by the route. */
export function keyFromBody(body: Record<string, unknown>, fixed: Pick<VirtualKey, 'id' | 'keyHash' | 'teamId' | 'customerId'>): VirtualKey {
  return {
    ...fixed,
    name: body.name as string,
    allowedModels: (body.allowed_models as string[] | undefined) ?? ['*'],
    allowedTools: (body.allowed_tools as string[] | undefined) ?? [],
    metadata: (body.metadata as VirtualKey['metadata']) ?? {},
    contentLogging: (body.content_logging as boolean | undefined) ?? false,
    cacheScope: (body.cache_scope as VirtualKey['cacheScope'] | undefined) ?? 'team',
    toolMode: (body.tool_mode as VirtualKey['toolMode'] | undefined) ?? 'off',
    toolCallLimit: (body.tool_call_limit as number | null | undefined) ?? null,
    codeLimits: codeLimitsOf(body.code_limits),
    createdAt: new Date(),
    expiresAt: body.expires_at ? new Date(body.expires_at as string) : null,
    revokedAt: null,
    ...NO_LIMITS,
    ...limitsPatch(body),
  };
}

/** Request fields for rate limits, as entity fields (only those present). */
export function limitsPatch(body: Record<string, unknown>): Partial<RateLimits> {
  const patch: Partial<RateLimits> = {};
  if ('rpm_limit' in body) patch.rpmLimit = body.rpm_limit as number | null;
  if ('tpm_limit' in body) patch.tpmLimit = body.tpm_limit as number | null;
  if ('max_parallel' in body) patch.maxParallel = body.max_parallel as number | null;
  if ('rate_window_seconds' in body) patch.rateWindowSeconds = body.rate_window_seconds as number;
  return patch;
}

/** Where each kind of entity sits, for scoped admin tokens. */
export function placementOf(directory: Directory) {
  return {
    customer: (c: Customer): Placement => ({ customer: c.id, team: null }),
    team: (t: Team): Placement => ({ customer: t.customerId, team: t.id }),
    key: (k: VirtualKey): Placement => ({ customer: directory.customerOf(k), team: k.teamId }),
    budget: (b: Budget): Placement => {
      if (b.scope === 'customer') return { customer: b.scopeId, team: null };
      if (b.scope === 'team') return { customer: directory.teams.get(b.scopeId)?.customerId ?? null, team: b.scopeId };
      const key = directory.keys.get(b.scopeId);
      return key ? { customer: directory.customerOf(key), team: key.teamId } : { customer: null, team: null };
    },
  };
}

export type Place = ReturnType<typeof placementOf>;

/** An entity the caller may see, or 404 (a scoped caller cannot tell others' entities from missing ones). */
export async function visible<T extends { id: string }>(table: Table<T>, where: (e: T) => Placement, who: Principal, id: string, what: string): Promise<T> {
  const entity = await table.find(id);
  if (!entity || !canSee(who, where(entity))) throw new GatewayError('not_found', `No ${what} with id ${id}.`);
  return entity;
}

/** Code mode limits from a request body's `code_limits` (the schema bounds each) over the key's own: null returns one to ingress's default, absent keeps it. */
export function codeLimitsOf(body: unknown, current: CodeLimits = {}): CodeLimits {
  const given = (body ?? {}) as Record<string, number | null | undefined>;
  const limits: CodeLimits = { ...current };
  for (const [field, name] of [
    ['timeMs', 'time_ms'],
    ['memoryMb', 'memory_mb'],
    ['maxToolCalls', 'max_tool_calls'],
    ['maxResultBytes', 'max_result_bytes'],
  ] as const) {
    const value = given[name];
    if (typeof value === 'number') limits[field] = value;
    else if (value === null) delete limits[field];
  }
  return limits;
}
