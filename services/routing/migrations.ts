import { tableGrants, type DatabasePlan } from '../kit/db/plan.js';
import type { Migration } from '../kit/db/types.js';

/** The ids of a stored response's items, input then output: indexed (migration 5), so queries must say it alike. */
export const ITEM_IDS = `jsonb_path_query_array(input || (response -> 'output'), '$[*].id')`;

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
  {
    version: 4,
    description: 'files and batches of the Batch API (/v1/files, /v1/batches)',
    sql: `
      CREATE TABLE routing_files (
        id TEXT PRIMARY KEY,
        -- As routing_responses.tenant: only a key of the same tenant lists, reads or deletes it.
        tenant TEXT NOT NULL,
        -- batch (uploaded), batch_output or batch_error (written by a batch).
        purpose TEXT NOT NULL,
        filename TEXT NOT NULL,
        content BYTEA NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX routing_files_tenant ON routing_files (tenant, created_at);
      CREATE TABLE routing_batches (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        -- The SHA-256 of the key that created it: its lines run as that key (its budgets, limits, allowed models).
        key_hash BYTEA NOT NULL,
        endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL,
        completion_window TEXT NOT NULL,
        metadata JSONB,
        status TEXT NOT NULL,
        -- OpenAI's errors object of a batch that failed validation.
        errors JSONB,
        output_file_id TEXT,
        error_file_id TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        in_progress_at TIMESTAMPTZ,
        expires_at TIMESTAMPTZ NOT NULL,
        finalizing_at TIMESTAMPTZ,
        completed_at TIMESTAMPTZ,
        failed_at TIMESTAMPTZ,
        expired_at TIMESTAMPTZ,
        cancelling_at TIMESTAMPTZ,
        cancelled_at TIMESTAMPTZ,
        -- The ingress process running its lines, until claimed_until (a process that died lets it go then).
        claimed_by TEXT,
        claimed_until TIMESTAMPTZ
      );
      CREATE INDEX routing_batches_tenant ON routing_batches (tenant, created_at);
      CREATE INDEX routing_batches_open ON routing_batches (created_at) WHERE status IN ('in_progress', 'cancelling');
      CREATE TABLE routing_batch_lines (
        batch_id TEXT NOT NULL REFERENCES routing_batches (id) ON DELETE CASCADE,
        line INTEGER NOT NULL,
        custom_id TEXT NOT NULL,
        body JSONB NOT NULL,
        -- Set once the line ran: the answer the gateway gave it, as a client would have had it.
        status_code INTEGER,
        request_id TEXT,
        answer JSONB,
        PRIMARY KEY (batch_id, line)
      );
    `,
  },
  {
    version: 5,
    description: 'stored responses found by the ids of their items (item_reference)',
    sql: `
      -- Every id of a stored response's input and output items, so an item_reference finds its response by index.
      CREATE INDEX routing_responses_item_ids ON routing_responses USING gin (${ITEM_IDS});
    `,
  },
  {
    version: 6,
    description: "files' expiry (POST /v1/files expires_after)",
    sql: `
      -- Null: kept until deleted. Past it a file is not found, and the hourly purge deletes it.
      ALTER TABLE routing_files ADD COLUMN expires_at TIMESTAMPTZ;
      CREATE INDEX routing_files_expiry ON routing_files (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
  {
    version: 7,
    description: 'storage policies and attachments managed through the admin API',
    sql: `
      ALTER TABLE routing_admin_entries DROP CONSTRAINT routing_admin_entries_kind_check;
      ALTER TABLE routing_admin_entries ADD CONSTRAINT routing_admin_entries_kind_check
        CHECK (kind IN ('provider', 'model', 'mcp', 'guardrail_policy', 'guardrail_attachment', 'guardrail_storage_policy', 'guardrail_storage_attachment'));
    `,
  },
  {
    version: 8,
    description: "batches handed to a provider's own batch API",
    sql: `
      -- The one deployment a provider-native batch goes to, the provider's batch once handed off, and its last status.
      ALTER TABLE routing_batches ADD COLUMN native_provider TEXT, ADD COLUMN native_model TEXT, ADD COLUMN native_deployment TEXT,
        ADD COLUMN provider_batch_id TEXT, ADD COLUMN provider_status TEXT, ADD COLUMN provider_cancel_sent BOOLEAN NOT NULL DEFAULT false,
        ADD COLUMN next_poll_at TIMESTAMPTZ;
      -- A provider-native line's admission (its reservation, cap and actor), its usage once answered, and whether
      -- ingress has recorded and settled it (so a restart records no line twice).
      ALTER TABLE routing_batch_lines ADD COLUMN reservation_id TEXT, ADD COLUMN max_output_tokens INTEGER, ADD COLUMN actor JSONB,
        ADD COLUMN usage JSONB, ADD COLUMN settled BOOLEAN NOT NULL DEFAULT false;
    `,
  },
  {
    version: 9,
    description: "batches' output files' expiry (POST /v1/batches output_expires_after)",
    sql: `
      -- Seconds the batch's output and error files are kept from when they are written; null: until deleted.
      ALTER TABLE routing_batches ADD COLUMN output_expires_after INTEGER;
    `,
  },
];

/** Routing works as <database>_routing: its admin-managed entries, stored responses, files and batches only. */
export const routingDatabase: DatabasePlan = {
  components: [{ name: 'routing', migrations: routingMigrations }],
  roles: {
    routing: {
      grants: tableGrants('SELECT, INSERT, UPDATE, DELETE', [
        'routing_admin_entries',
        'routing_responses',
        'routing_files',
        'routing_batches',
        'routing_batch_lines',
      ]),
    },
  },
};
