import { PERIODS, SCOPES, TOOL_MODES } from '../store/entities.js';

/** JSON schemas of admin request bodies; fastify validates them and /docs shows them. */

const id = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$' } as const;
const name = { type: 'string', minLength: 1, maxLength: 200 } as const;
const metadata = { type: 'object', additionalProperties: { type: 'string' } } as const;
const nullableCount = { type: ['integer', 'null'], minimum: 0 } as const;

const limits = {
  rpm_limit: { ...nullableCount, description: 'Requests per rate window (null: no limit).' },
  tpm_limit: { ...nullableCount, description: 'Tokens (prompt + completion) per rate window (null: no limit).' },
  max_parallel: { ...nullableCount, description: 'Requests in flight at once (null: no limit).' },
  rate_window_seconds: { type: 'integer', minimum: 1, maximum: 86_400, description: 'Length of the rate window.' },
} as const;

export const customerBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { id, name, metadata },
} as const;

export const teamBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { id, name, customer: { type: ['string', 'null'] }, metadata, ...limits },
} as const;

export const keyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    team: { type: ['string', 'null'] },
    customer: { type: ['string', 'null'] },
    allowed_models: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description: 'Glob patterns of model names, e.g. "openai/*"; [] allows nothing. Default ["*"].',
    },
    allowed_tools: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description: 'Glob patterns of MCP tools ("<server>.<tool>", e.g. "github.*"); [] (the default) allows none.',
    },
    metadata,
    content_logging: { type: 'boolean' },
    cache_scope: {
      type: 'string',
      enum: ['key', 'team', 'customer'],
      description: "Whose cached answers the key shares: its team's (default), only its own, or its customer's.",
    },
    tool_mode: {
      type: 'string',
      enum: [...TOOL_MODES],
      description:
        'Its chat completions get its MCP tools: off (default; a request may still ask with x-gateway-tools), inject (offered to the model), agent (the gateway also runs auto-executable ones); code (/mcp and chat completions offer them as TypeScript files and run programs that call them in a sandbox).',
    },
    tool_call_limit: { ...nullableCount, description: 'MCP tool calls per rate window (null: no limit).' },
    code_limits: {
      type: 'object',
      additionalProperties: false,
      description: "Limits on each program the key runs in code mode; one left out (or null) takes ingress's configured default (codeMode).",
      properties: {
        time_ms: { type: ['integer', 'null'], minimum: 100, maximum: 300_000, description: 'Wall time of a program, its tool calls included.' },
        memory_mb: { type: ['integer', 'null'], minimum: 16, maximum: 1_024, description: "Memory of a program's JavaScript engine." },
        max_tool_calls: { type: ['integer', 'null'], minimum: 1, maximum: 10_000, description: 'Most tool calls a program may make.' },
        max_result_bytes: { type: ['integer', 'null'], minimum: 1_024, maximum: 16_777_216, description: 'Largest result (as JSON) a program may return.' },
      },
    },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
    ...limits,
  },
} as const;

/** Budgets count whole micro-dollars, exact in a double up to $9 billion: a limit has at most six decimals (checked in the route). */
export const LIMIT_USD = { type: 'number', minimum: 0, maximum: 1_000_000_000, description: 'USD per period, with at most six decimals.' } as const;

export const budgetBody = {
  type: 'object',
  additionalProperties: false,
  required: ['scope', 'scope_id', 'limit_usd', 'period'],
  properties: {
    scope: { type: 'string', enum: [...SCOPES] },
    scope_id: { type: 'string', minLength: 1 },
    limit_usd: LIMIT_USD,
    period: { type: 'string', enum: [...PERIODS] },
    alignment: { type: 'string', enum: ['calendar', 'rolling'], description: 'calendar: UTC boundaries; rolling: periods from creation.' },
    current_window_ends_at: {
      type: 'string',
      format: 'date-time',
      description: 'Rolling only: the end of the window under way (a budget carried from another system); windows count from one period before it.',
    },
  },
} as const;

/** The same bodies for PATCH: every field optional. */
export function patchOf<S extends { required: readonly string[]; properties: object }>(schema: S) {
  const { required: _required, ...rest } = schema;
  return { ...rest, minProperties: 1 } as const;
}

export const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } as const;
