/** The admin API as the console calls it: by its session cookie, never a token, with the header that marks the console's own calls. */

export type Permission = 'read' | 'write' | 'manage_customers' | 'manage_routing' | 'manage_retention' | 'read_retention' | 'audit';

export interface Caller {
  name: string;
  role: 'owner' | 'admin' | 'viewer' | 'auditor';
  customer?: string;
  team?: string;
  permissions: Permission[];
}

export interface Key {
  id: string;
  name: string;
  team: string | null;
  customer: string | null;
  allowed_models: string[];
  rpm_limit: number | null;
  tpm_limit: number | null;
  tool_mode: 'off' | 'inject' | 'agent' | 'code';
  code_limits: { time_ms: number | null; memory_mb: number | null; max_tool_calls: number | null; max_result_bytes: number | null };
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface Limits {
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_parallel: number | null;
}

export interface Customer {
  id: string;
  name: string;
  created_at: string;
}

export interface Team extends Limits {
  id: string;
  name: string;
  customer: string | null;
  created_at: string;
}

export type Scope = 'key' | 'team' | 'customer';

export interface Budget {
  id: string;
  scope: Scope;
  scope_id: string;
  limit_usd: number;
  period: string;
  alignment: 'calendar' | 'rolling';
}

/** GET /admin/budgets/:id: the budget with its current window and what was spent in it. */
export interface BudgetWindow extends Budget {
  window: { start: string; end: string; used_usd: number };
}

/** One row of GET /admin/spend: the group's dimensions, then its sums (money as exact decimal strings). */
export type SpendRow = Record<string, string | number> & { cost_usd: string; requests: number; prompt_tokens: number; completion_tokens: number };

/** One row of the usage ledger, as GET /admin/usage/export gives it. */
export interface Usage {
  request_id: string;
  occurred_at: string;
  outcome: 'completed' | 'failed';
  key_id: string;
  team_id: string;
  model: string;
  provider: string;
  deployment: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: string | null;
  cache_hit: boolean;
  http_status: number;
  duration_ms: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let signedOut: () => void = () => {};

/** What to do when the session has ended (expired, signed out elsewhere, token removed): show the sign-in page. */
export function onSignedOut(fn: () => void): void {
  signedOut = fn;
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'x-gateway-console': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const answer = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    // A refused sign-in is the sign-in page's to show; any other 401 means the session is over.
    if (response.status === 401 && path !== '/admin/session') signedOut();
    throw new ApiError(response.status, answer?.error?.message ?? `${method} ${path} answered ${response.status}`);
  }
  return response;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export const can = (caller: Caller, permission: Permission) => caller.permissions.includes(permission);
