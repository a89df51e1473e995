import type { Migration } from '../kit/db/types.js';

export const auditMigrations: Migration[] = [
  {
    version: 1,
    description: 'audit log',
    sql: `
      CREATE TABLE audit_events (
        seq BIGSERIAL PRIMARY KEY,
        -- The event id is unique: a redelivered event never makes a second row.
        event_id UUID NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        request_id TEXT NOT NULL DEFAULT '',
        trace_id TEXT NOT NULL DEFAULT '',
        service TEXT NOT NULL,
        source_address TEXT NOT NULL DEFAULT '',
        actor_key_id TEXT NOT NULL DEFAULT '',
        actor_team_id TEXT NOT NULL DEFAULT '',
        actor_customer_id TEXT NOT NULL DEFAULT '',
        actor_admin TEXT NOT NULL DEFAULT '',
        schema_version INTEGER NOT NULL,
        payload JSONB NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX audit_events_request_id ON audit_events (request_id);
      CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
    `,
  },
  {
    version: 2,
    description: 'hash chain and append-only audit log',
    sql: `
      -- Each row carries the hash of the row before it: SHA-256 over that hash and the row's canonical JSON.
      ALTER TABLE audit_events ADD COLUMN prev_hash TEXT, ADD COLUMN hash TEXT;
      CREATE INDEX audit_events_event_type ON audit_events (event_type, occurred_at);
      CREATE INDEX audit_events_actor ON audit_events (actor_key_id, occurred_at);

      -- Rows archived by retention: the chain resumes from the last archived row's hash.
      CREATE TABLE audit_archives (
        id BIGSERIAL PRIMARY KEY,
        up_to_seq BIGINT NOT NULL,
        last_hash TEXT NOT NULL,
        rows BIGINT NOT NULL,
        file TEXT NOT NULL,
        file_sha256 TEXT NOT NULL,
        archived_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );

      -- UPDATE, DELETE and TRUNCATE are refused, except inside the gateway's own maintenance
      -- (chaining rows of older versions, retention), which sets gateway.audit_maintenance for its transaction.
      CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
      BEGIN
        IF current_setting('gateway.audit_maintenance', true) = 'on' THEN
          RETURN COALESCE(NEW, OLD);
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
      END
      $$ LANGUAGE plpgsql;
      CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
    `,
  },
];
