import { tableGrants, type DatabasePlan } from '../kit/db/plan.js';
import type { Migration } from '../kit/db/types.js';

export const routingMigrations: Migration[] = [
  {
    version: 1,
    description: 'providers, models and MCP approvals managed through the admin API, moved from governance',
    sql: `
      CREATE TABLE routing_admin_entries (
        kind TEXT NOT NULL CHECK (kind IN ('provider', 'model', 'mcp')),
        name TEXT NOT NULL,
        -- As in the routing.providers / routing.models config sections (secrets only as references), or an MCP
        -- server's approval: {"pins": {"<tool>": "<hash>"}}.
        entry JSONB NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, name)
      );
      -- Governance kept these entries before routing had tables of its own: they move here, and its table goes.
      -- Whichever of the two migrates first, nothing is lost: governance drops that table itself only while empty.
      DO $$
      BEGIN
        IF to_regclass('routing_entries') IS NOT NULL THEN
          INSERT INTO routing_admin_entries (kind, name, entry, updated_at) SELECT kind, name, entry, updated_at FROM routing_entries;
          DROP TABLE routing_entries;
        END IF;
      END $$;
    `,
  },
  {
    version: 2,
    description: 'guardrail policies and attachments managed through the admin API',
    sql: `
      ALTER TABLE routing_admin_entries DROP CONSTRAINT routing_admin_entries_kind_check;
      ALTER TABLE routing_admin_entries ADD CONSTRAINT routing_admin_entries_kind_check
        CHECK (kind IN ('provider', 'model', 'mcp', 'guardrail_policy', 'guardrail_attachment'));
    `,
  },
  {
    version: 3,
    description: 'stored responses of the Responses API (previous_response_id, GET /v1/responses/{id})',
    sql: `
      CREATE TABLE routing_responses (
        id TEXT PRIMARY KEY,
        -- team:<id>, customer:<id> or key:<id>: only a key of the same tenant reads, continues or deletes it.
        tenant TEXT NOT NULL,
        -- The Response object as the client received it (output items, model, usage, created_at).
        response JSONB NOT NULL,
        -- The conversation before the output, as the provider saw it (redactions made), as Responses input items.
        input JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX routing_responses_expiry ON routing_responses (expires_at);
    `,
  },
];

/** Routing works as <database>_routing: its admin-managed entries and stored responses only. */
export const routingDatabase: DatabasePlan = {
  components: [{ name: 'routing', migrations: routingMigrations }],
  roles: {
    routing: { grants: tableGrants('SELECT, INSERT, UPDATE, DELETE', ['routing_admin_entries', 'routing_responses']) },
  },
};
