import { tableGrants, type DatabasePlan } from '../kit/db/plan.js';
import type { Migration } from '../kit/db/types.js';

export const governanceMigrations: Migration[] = [
  {
    version: 1,
    description: 'virtual keys',
    sql: `
      CREATE TABLE virtual_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        -- SHA-256 of the key; the key itself is shown once at creation and never stored.
        key_hash BYTEA NOT NULL UNIQUE,
        team_id TEXT NOT NULL DEFAULT '',
        customer_id TEXT NOT NULL DEFAULT '',
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
      );
    `,
  },
  {
    version: 2,
    description: 'customers, teams, budgets, rate limits, quota leases',
    sql: `
      CREATE TABLE customers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        metadata JSONB NOT NULL DEFAULT '{}',
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE teams (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        customer_id TEXT REFERENCES customers (id),
        metadata JSONB NOT NULL DEFAULT '{}',
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        rpm_limit INTEGER,
        tpm_limit INTEGER,
        max_parallel INTEGER,
        rate_window_seconds INTEGER NOT NULL DEFAULT 60
      );
      ALTER TABLE virtual_keys ALTER COLUMN team_id DROP NOT NULL, ALTER COLUMN team_id DROP DEFAULT,
        ALTER COLUMN customer_id DROP NOT NULL, ALTER COLUMN customer_id DROP DEFAULT;
      UPDATE virtual_keys SET team_id = NULLIF(team_id, ''), customer_id = NULLIF(customer_id, '');
      ALTER TABLE virtual_keys
        ADD COLUMN allowed_models TEXT[] NOT NULL DEFAULT '{*}',
        ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}',
        ADD COLUMN content_logging BOOLEAN NOT NULL DEFAULT false,
        ADD COLUMN rpm_limit INTEGER,
        ADD COLUMN tpm_limit INTEGER,
        ADD COLUMN max_parallel INTEGER,
        ADD COLUMN rate_window_seconds INTEGER NOT NULL DEFAULT 60;
      CREATE TABLE budgets (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL CHECK (scope IN ('key', 'team', 'customer')),
        scope_id TEXT NOT NULL,
        limit_usd NUMERIC(20, 10) NOT NULL CHECK (limit_usd >= 0),
        period TEXT NOT NULL CHECK (period IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
        alignment TEXT NOT NULL DEFAULT 'calendar' CHECK (alignment IN ('calendar', 'rolling')),
        anchor TIMESTAMPTZ NOT NULL DEFAULT now(),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (scope, scope_id, period)
      );
      -- One row per quota window: the limit, and how much of it is handed out to replicas.
      CREATE TABLE quota_windows (
        quota TEXT NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        limit_value NUMERIC NOT NULL,
        allocated NUMERIC NOT NULL DEFAULT 0,
        PRIMARY KEY (quota, window_start)
      );
      -- What each replica holds of a window: granted to it, and used of that (reported as it goes).
      CREATE TABLE quota_leases (
        quota TEXT NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        holder TEXT NOT NULL,
        granted NUMERIC NOT NULL DEFAULT 0,
        used NUMERIC NOT NULL DEFAULT 0,
        renewed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (quota, window_start, holder)
      );
      CREATE INDEX quota_leases_renewed ON quota_leases (renewed_at);
    `,
  },
  {
    version: 3,
    description: 'providers and models managed through the admin API',
    sql: `
      CREATE TABLE routing_entries (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('provider', 'model')),
        name TEXT NOT NULL,
        -- The entry as in the routing.providers / routing.models config sections; secrets only as references.
        entry JSONB NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (kind, name)
      );
    `,
  },
  {
    version: 4,
    description: 'response cache scope per key',
    sql: `
      -- Whose cached answers a key shares: its team's (default), only its own, or its customer's.
      ALTER TABLE virtual_keys ADD COLUMN cache_scope TEXT NOT NULL DEFAULT 'team' CHECK (cache_scope IN ('key', 'team', 'customer'));
    `,
  },
  {
    version: 5,
    description: 'MCP tools: allowlists per key, approvals of servers',
    sql: `
      -- Glob patterns over "<server>.<tool>"; none by default: tools are granted, never assumed.
      ALTER TABLE virtual_keys ADD COLUMN allowed_tools TEXT[] NOT NULL DEFAULT '{}';
      -- An approved MCP server is an entry of kind 'mcp': the hashes of its tools an admin approved.
      ALTER TABLE routing_entries DROP CONSTRAINT routing_entries_kind_check;
      ALTER TABLE routing_entries ADD CONSTRAINT routing_entries_kind_check CHECK (kind IN ('provider', 'model', 'mcp'));
    `,
  },
  {
    version: 6,
    description: 'MCP tools on chat completions, tool-call rate limits',
    sql: `
      -- Whether the key's chat completions get its tools: not by default, offered to the model, or run by the gateway.
      ALTER TABLE virtual_keys ADD COLUMN tool_mode TEXT NOT NULL DEFAULT 'off' CHECK (tool_mode IN ('off', 'inject', 'agent'));
      -- Tool calls per rate window (NULL: no limit).
      ALTER TABLE virtual_keys ADD COLUMN tool_call_limit INTEGER CHECK (tool_call_limit >= 0);
    `,
  },
  {
    version: 7,
    description: 'liveness of the ingress processes holding admissions',
    sql: `
      -- When a governance replica last heard from an ingress process that holds admissions, for the replicas that
      -- admitted its requests but no longer hear it themselves; rows silent past governance.holderSilenceMs are deleted.
      CREATE TABLE reservation_holders (
        holder TEXT PRIMARY KEY,
        seen_at TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    version: 8,
    description: 'budgets count whole micro-dollars',
    sql: `
      -- Budget windows and leases held dollars as floats summed; they now hold whole micro-dollars, so sums are exact.
      -- What was used rounds up and what was granted is kept whole: a budget never counts less than was spent.
      UPDATE quota_windows SET limit_value = floor(limit_value * 1000000), allocated = ceil(allocated * 1000000) WHERE quota LIKE 'budget:%';
      UPDATE quota_leases SET granted = ceil(granted * 1000000), used = ceil(used * 1000000) WHERE quota LIKE 'budget:%';
      ALTER TABLE budgets ADD CONSTRAINT budgets_limit_whole_micros CHECK (limit_usd = round(limit_usd, 6)) NOT VALID;
    `,
  },
  {
    version: 9,
    description: 'providers, models and MCP approvals move to routing',
    sql: `
      -- Routing keeps them in its own table now: its first migration moves the rows there and drops this table.
      -- Dropped here only when empty, so a governance that migrates before routing loses none it has yet to move.
      DO $$
      BEGIN
        IF to_regclass('routing_entries') IS NOT NULL THEN
          IF NOT EXISTS (SELECT 1 FROM routing_entries) THEN
            DROP TABLE routing_entries;
          END IF;
        END IF;
      END $$;
      `,
  },
  {
    version: 10,
    description: 'console sessions',
    sql: `
      -- A console sign-in: the SHA-256 of its cookie's random id, never the id or the admin token itself.
      CREATE TABLE admin_sessions (
        id_hash BYTEA PRIMARY KEY,
        -- SHA-256 of the static admin token signed in with, looked up in the configuration at every use; NULL for SSO.
        token_hash BYTEA,
        principal JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
    `,
  },
  {
    version: 11,
    description: 'MCP code mode',
    sql: `
      -- 'code': /mcp offers the key's tools as TypeScript declarations and runs programs that call them in a sandbox.
      ALTER TABLE virtual_keys DROP CONSTRAINT virtual_keys_tool_mode_check;
      ALTER TABLE virtual_keys ADD CONSTRAINT virtual_keys_tool_mode_check CHECK (tool_mode IN ('off', 'inject', 'agent', 'code'));
    `,
  },
  {
    version: 12,
    description: 'Code mode limits per key',
    sql: `
      -- The key's own limits on code mode's programs (timeMs, memoryMb, maxToolCalls, maxResultBytes); one left out takes ingress's default.
      ALTER TABLE virtual_keys ADD COLUMN code_limits JSONB NOT NULL DEFAULT '{}';
    `,
  },
];

/** Governance works as <database>_governance: its own tables only, never the audit log or usage rows. */
export const governanceDatabase: DatabasePlan = {
  components: [{ name: 'governance', migrations: governanceMigrations }],
  roles: {
    governance: {
      grants: tableGrants('SELECT, INSERT, UPDATE, DELETE', [
        'virtual_keys',
        'customers',
        'teams',
        'budgets',
        'quota_windows',
        'quota_leases',
        'reservation_holders',
        'admin_sessions',
      ]),
    },
  },
};
