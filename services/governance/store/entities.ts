/** The governance model: customers own teams, teams (or customers) own virtual keys; budgets attach to any of them. */

export type Metadata = Record<string, string>;

/** Limits on request rate, token rate and requests in flight (null: no limit). */
export interface RateLimits {
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallel: number | null;
  /** Length of the rate window in seconds (rpm/tpm are "per window"). */
  rateWindowSeconds: number;
}

export interface Customer {
  id: string;
  name: string;
  metadata: Metadata;
  createdAt: Date;
}

export interface Team extends RateLimits {
  id: string;
  name: string;
  customerId: string | null;
  metadata: Metadata;
  createdAt: Date;
}

export interface VirtualKey extends RateLimits {
  id: string;
  name: string;
  /** SHA-256 of the key; the key itself is shown once at creation and never stored. */
  keyHash: Buffer;
  teamId: string | null;
  customerId: string | null;
  /** Glob patterns of model names the key may use; an empty list allows nothing. */
  allowedModels: string[];
  /** Glob patterns over "<server>.<tool>" of MCP tools the key may list and call; an empty list allows none. */
  allowedTools: string[];
  metadata: Metadata;
  /** Whether request and response content may be stored for this key. */
  contentLogging: boolean;
  /** Whose cached answers the key shares: its own, its team's, or its customer's. */
  cacheScope: CacheScope;
  /** Whether its chat completions get its MCP tools (not unless asked, offered, run by the gateway), or /mcp offers them as code. */
  toolMode: ToolMode;
  /** Tool calls per rate window (null: no limit). */
  toolCallLimit: number | null;
  /** Its own limits on code mode's programs; one left out takes ingress's configured default. */
  codeLimits: CodeLimits;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export interface CodeLimits {
  timeMs?: number;
  memoryMb?: number;
  maxToolCalls?: number;
  maxResultBytes?: number;
}

export const CACHE_SCOPES = ['key', 'team', 'customer'] as const;
export type CacheScope = (typeof CACHE_SCOPES)[number];

export const TOOL_MODES = ['off', 'inject', 'agent', 'code'] as const;
export type ToolMode = (typeof TOOL_MODES)[number];

export const PERIODS = ['minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'] as const;
export type Period = (typeof PERIODS)[number];
export const SCOPES = ['key', 'team', 'customer'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Budget {
  id: string;
  scope: Scope;
  scopeId: string;
  limitUsd: number;
  period: Period;
  /** calendar: windows start at UTC boundaries (midnight, the 1st…); rolling: windows of the period's length from `anchor`. */
  alignment: 'calendar' | 'rolling';
  anchor: Date;
  createdAt: Date;
}
