import { createHash } from 'node:crypto';
import { TABLES, type LiteLLMTables, type Row } from './database.js';
import type { Report } from './report.js';

/** What the admin API is asked to hold after the import: its request bodies, with the ids that let a second run find them. */
export interface Plan {
  customers: { id: string; name: string; metadata: Record<string, string> }[];
  teams: ({ id: string; name: string; customer: string | null; metadata: Record<string, string> } & Limits)[];
  keys: PlannedKey[];
  budgets: PlannedBudget[];
}

export interface PlannedBudget {
  scope: 'key' | 'team' | 'customer';
  scope_id: string;
  limit_usd: number;
  period: string;
  alignment: 'rolling';
  /** LiteLLM's budget_reset_at, when its window is under way and its length is a period here: windows go on from it. */
  current_window_ends_at?: string;
  /** What LiteLLM counts as spent in the window under way, carried into this budget's (PUT .../carried-spend). */
  spend_usd: number;
}

export interface Limits {
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_parallel: number | null;
}

export interface PlannedKey extends Limits {
  id: string;
  name: string;
  key_sha256: string;
  team: string | null;
  customer: string | null;
  allowed_models: string[];
  expires_at: string | null;
  metadata: Record<string, string>;
  /** Blocked in LiteLLM (the key or its team): revoked here. */
  revoke: boolean;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** LiteLLM's id when the admin API accepts it as one, else one derived from it (the same on every run). */
const entityId = (kind: string, raw: string) => (ID.test(raw) ? raw : `litellm-${kind}-${sha256(raw).slice(0, 16)}`);
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
const count = (value: unknown) => (value === null || value === undefined ? null : Number(value));
const money = (value: unknown) => `$${Number(value ?? 0).toFixed(2)}`;

/** Whether a column holds anything: what is null, false, 0 or empty was not set in LiteLLM. */
function isSet(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object' && !(value instanceof Date)) return Object.keys(value).length > 0;
  return true;
}

/**
 * LiteLLM's budget_duration ("30s", "1h", "1d", "7d", "1mo"…) as a period here. LiteLLM resets a budget that long
 * after it began, so windows here are rolling too; a length that is no period here is not mapped.
 */
const PERIODS: Record<string, { period: string; exact: boolean }> = {
  '1m': { period: 'minute', exact: true },
  '60s': { period: 'minute', exact: true },
  '1h': { period: 'hour', exact: true },
  '60m': { period: 'hour', exact: true },
  '1d': { period: 'day', exact: true },
  '24h': { period: 'day', exact: true },
  '7d': { period: 'week', exact: true },
  '1w': { period: 'week', exact: true },
  '1mo': { period: 'month', exact: true },
  '30d': { period: 'month', exact: false },
  '3mo': { period: 'quarter', exact: true },
  '1y': { period: 'year', exact: true },
  '12mo': { period: 'year', exact: true },
  '365d': { period: 'year', exact: false },
};

/** Columns each table's rows are read for; any other column holding a value is reported as not carried over. */
const READ: Record<keyof LiteLLMTables, string[]> = {
  keys: ['token', 'key_name', 'key_alias', 'team_id', 'organization_id', 'user_id', 'models', 'max_parallel_requests', 'tpm_limit', 'rpm_limit'].concat([
    'max_budget',
    'budget_duration',
    'budget_id',
    'expires',
    'blocked',
    'metadata',
    'spend',
    'budget_reset_at',
  ]),
  teams: ['team_id', 'team_alias', 'organization_id', 'models', 'max_parallel_requests', 'tpm_limit', 'rpm_limit', 'max_budget', 'budget_duration'].concat([
    'blocked',
    'metadata',
    'spend',
    'budget_reset_at',
  ]),
  organizations: ['organization_id', 'organization_alias', 'budget_id', 'metadata', 'spend'],
  budgets: ['budget_id', 'max_budget', 'budget_duration', 'budget_reset_at', 'rpm_limit', 'tpm_limit', 'max_parallel_requests'],
  endUsers: [],
  users: [],
};
/** Who made or changed a row, and when: LiteLLM's bookkeeping, not settings. */
const BOOKKEEPING = new Set(['created_at', 'created_by', 'updated_at', 'updated_by']);

const REASONS: Record<string, string> = {
  model_max_budget: 'no budget per model here: budgets are per key, team or customer',
  model_spend: 'spend per model is not carried: usage here starts with the import',
  aliases: 'no model aliases per key: aliases are routing.models entries, for every caller',
  members: "team members are LiteLLM's users: admins here are admin tokens or SSO (docs/governance.md)",
  admins: "team admins are LiteLLM's users: admins here are admin tokens or SSO, scoped to a team (docs/governance.md)",
  members_with_roles: "team members are LiteLLM's users: admins here are admin tokens or SSO (docs/governance.md)",
  soft_budget: 'no soft budget here: budget alerts are the usage events',
  allowed_cache_controls: 'the response cache is governed by cache_scope on the key',
  permissions: 'no per-key permissions here beyond allowed models and tools',
};

/** Turns LiteLLM's rows into the plan, reporting by table and column everything that does not carry over as it was. */
export function planImport(tables: LiteLLMTables, report: Report): Plan {
  const plan: Plan = { customers: [], teams: [], keys: [], budgets: [] };
  const budgetRows = new Map(tables.budgets.map((b) => [String(b.budget_id), b]));
  const customerOf = new Map<string, string>();
  const teams = new Map<string, { id: string; row: Row }>();
  const now = new Date();
  /** A budget from `source`'s limit and duration, carrying what `entity` (the key, team or organization) spent in its window. */
  const budget = (scope: PlannedBudget['scope'], scopeId: string, source: Row, path: string, entity: Row) => {
    const spend = Math.round(Number(entity.spend ?? 0) * 1e6) / 1e6;
    if (source.max_budget === null || source.max_budget === undefined) {
      if (spend > 0) report.dropped(`${path}.spend`, `${money(spend)} spent in LiteLLM is not carried: no budget to count it against here`);
      return;
    }
    const duration = text(source.budget_duration);
    const mapped = duration ? PERIODS[duration] : { period: 'year', exact: false };
    if (!mapped) {
      report.dropped(
        `${path}.budget_duration`,
        `"${duration}" is no period here (minute, hour, day, week, month, quarter, year): its ${money(source.max_budget)} budget is not carried; set one with POST /admin/budgets`,
      );
      return;
    }
    if (!duration) report.changed(`${path}.max_budget`, `no lifetime budget here: ${money(source.max_budget)} a year, from the import`);
    else if (!mapped.exact) report.changed(`${path}.budget_duration`, `"${duration}" becomes a ${mapped.period}, counted from the import`);
    const planned: PlannedBudget = {
      scope,
      scope_id: scopeId,
      limit_usd: Number(source.max_budget),
      period: mapped.period,
      alignment: 'rolling',
      spend_usd: spend,
    };
    const resetAt = entity.budget_reset_at ?? source.budget_reset_at;
    const ends = resetAt ? new Date(resetAt as string) : undefined;
    if (duration && ends && ends <= now) {
      // LiteLLM resets it at its next check: what it counts as spent belongs to a window that is over.
      if (spend > 0)
        report.changed(`${path}.spend`, `${money(spend)} was spent in a LiteLLM window that ended at ${ends.toISOString()}: the budget here starts at $0`);
      planned.spend_usd = 0;
    } else if (duration && ends && mapped.exact) planned.current_window_ends_at = ends.toISOString();
    plan.budgets.push(planned);
  };

  for (const org of tables.organizations) {
    const id = entityId('org', String(org.organization_id));
    const path = `${TABLES.organizations}[${text(org.organization_alias) ?? id}]`;
    customerOf.set(String(org.organization_id), id);
    plan.customers.push({ id, name: text(org.organization_alias) ?? id, metadata: stringsOf(org.metadata, path, report) });
    const orgBudget = budgetRows.get(String(org.budget_id));
    if (orgBudget) {
      budget('customer', id, orgBudget, path, org);
      for (const limit of ['rpm_limit', 'tpm_limit', 'max_parallel_requests'])
        if (isSet(orgBudget[limit]))
          report.dropped(`${path}.budget_id → ${TABLES.budgets}.${limit}`, 'no rate limits on customers here: set them on its teams or keys');
    } else budget('customer', id, {}, path, org);
  }

  for (const team of tables.teams) {
    const id = entityId('team', String(team.team_id));
    const path = `${TABLES.teams}[${text(team.team_alias) ?? id}]`;
    teams.set(String(team.team_id), { id, row: team });
    plan.teams.push({
      id,
      name: text(team.team_alias) ?? id,
      customer: customerOf.get(String(team.organization_id)) ?? null,
      metadata: stringsOf(team.metadata, path, report),
      ...limitsOf(team),
    });
    budget('team', id, team, path, team);
    if (team.blocked) report.changed(`${path}.blocked`, 'teams cannot be blocked here: each of its keys is revoked instead');
    if (isSet(team.models)) report.changed(`${path}.models`, 'teams have no model list here: each of its keys gets it as its allowed_models');
  }

  for (const key of tables.keys) {
    const token = String(key.token);
    const id = `litellm-${sha256(`key:${token}`).slice(0, 20)}`;
    const name = text(key.key_alias) ?? text(key.key_name) ?? id;
    const path = `${TABLES.keys}[${name}]`;
    if (!SHA256_HEX.test(token)) {
      report.dropped(path, 'its token column is not a SHA-256 in hex, as LiteLLM stores keys: left out');
      continue;
    }
    const team = teams.get(String(key.team_id));
    const shared = budgetRows.get(String(key.budget_id));
    const limits = limitsOf(key);
    if (shared) for (const [field, value] of Object.entries(limitsOf(shared)) as [keyof Limits, number | null][]) limits[field] ??= value;
    plan.keys.push({
      id,
      name,
      key_sha256: token,
      team: team?.id ?? null,
      customer: team ? null : (customerOf.get(String(key.organization_id)) ?? null),
      allowed_models: allowedModels(key.models, team?.row.models),
      expires_at: key.expires ? new Date(key.expires as string).toISOString() : null,
      metadata: { ...stringsOf(key.metadata, path, report), ...(text(key.user_id) ? { litellm_user_id: key.user_id as string } : {}) },
      ...limits,
      revoke: Boolean(key.blocked) || Boolean(team?.row.blocked),
    });
    budget('key', id, isSet(key.max_budget) || !shared ? key : shared, path, key);
  }

  if (tables.endUsers.length > 0)
    report.dropped(
      TABLES.endUsers,
      `${tables.endUsers.length} end users (with their budgets, spend and blocked state) not carried: no end-user accounts here; a request's user field is recorded in its usage event`,
    );
  if (tables.users.length > 0)
    report.dropped(
      TABLES.users,
      `${tables.users.length} internal users not carried: admins here are admin tokens or SSO; each key keeps its user_id as metadata.litellm_user_id`,
    );
  for (const kind of ['keys', 'teams', 'organizations'] as const) unreadColumns(TABLES[kind], tables[kind], READ[kind], report);
  return plan;
}

function limitsOf(row: Row): Limits {
  return { rpm_limit: count(row.rpm_limit), tpm_limit: count(row.tpm_limit), max_parallel: count(row.max_parallel_requests) };
}

/** LiteLLM's models lists as allowed_models: empty allows all; a key limited by its team gets the models both allow. */
function allowedModels(keyModels: unknown, teamModels: unknown): string[] {
  const list = (value: unknown) =>
    Array.isArray(value) && value.length > 0 && !value.includes('all-proxy-models') ? (value as string[]).filter((m) => m !== 'all-team-models') : undefined;
  const own = list(keyModels);
  const team = list(teamModels);
  if (own && team) return own.filter((m) => team.includes(m));
  return own ?? team ?? ['*'];
}

/** Metadata here holds strings; LiteLLM's other values are reported. */
function stringsOf(value: unknown, path: string, report: Report): Record<string, string> {
  if (!value || typeof value !== 'object') return {};
  const entries = Object.entries(value as Row);
  const kept = entries.filter((e): e is [string, string] => typeof e[1] === 'string');
  if (kept.length < entries.length)
    report.dropped(
      `${path}.metadata`,
      `values that are not strings (${entries
        .filter((e) => typeof e[1] !== 'string')
        .map((e) => e[0])
        .join(', ')}) are not carried: metadata here holds strings`,
    );
  return Object.fromEntries(kept);
}

/** Every column some row sets that the import does not read, once per column with how many rows set it. */
function unreadColumns(table: string, rows: Row[], read: string[], report: Report): void {
  const columns = new Set(rows.flatMap((row) => Object.keys(row).filter((c) => isSet(row[c]))));
  for (const column of columns) {
    if (read.includes(column) || BOOKKEEPING.has(column)) continue;
    const n = rows.filter((row) => isSet(row[column])).length;
    report.dropped(`${table}.${column}`, `set on ${n} row${n === 1 ? '' : 's'}, not carried: ${REASONS[column] ?? 'no equivalent here'}`);
  }
}
