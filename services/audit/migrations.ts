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
];
