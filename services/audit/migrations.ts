import { DEAD_LETTERS_COMPONENT, deadLetterMigrations, deadLetterTables } from '../kit/bus/dead-letters.js';
import { tableGrants, type DatabasePlan } from '../kit/db/plan.js';
import type { Migration } from '../kit/db/types.js';
import { chainUnhashedRows } from './chain.js';
import { CONTENT_RETENTION } from './content-schema.js';
import { AUDIT_EXPIRY, PARTITIONED_AUDIT_LOG } from './partitions.js';

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
  {
    version: 3,
    description: 'audit roles: a writer that may only append, a maintainer for retention',
    sql: `
      -- Roles are the cluster's, not the database's: named after the database, so two gateways' databases on one
      -- server never share them. The writer (the consumer, the reads) may append and read; the maintainer
      -- (retention) may also delete archived rows and record archives; only the owner, who runs migrations, may
      -- change the tables. Passwords are set by the owner as it migrates, from database.passwords (kit/db/plan.ts).
      DO $$
      DECLARE
        writer TEXT := current_database() || '_audit_writer';
        maintainer TEXT := current_database() || '_audit_maintainer';
      BEGIN
        IF octet_length(maintainer) > 63 THEN
          RAISE EXCEPTION 'audit role name % is longer than PostgreSQL allows (63 bytes): use a database name of at most 45 bytes', maintainer;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = writer) THEN EXECUTE format('CREATE ROLE %I LOGIN', writer); END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = maintainer) THEN EXECUTE format('CREATE ROLE %I LOGIN', maintainer); END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, %I', current_schema(), writer, maintainer);
        REVOKE ALL ON audit_events, audit_archives FROM PUBLIC;
        -- Not seq: a row slipped into a gap of the sequence would sit among older rows.
        EXECUTE format('GRANT SELECT, INSERT (event_id, event_type, occurred_at, request_id, trace_id, service, source_address, actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload, prev_hash, hash) ON audit_events TO %I, %I', writer, maintainer);
        EXECUTE format('GRANT DELETE ON audit_events TO %I', maintainer);
        EXECUTE format('GRANT USAGE ON SEQUENCE audit_events_seq_seq TO %I, %I', writer, maintainer);
        EXECUTE format('GRANT SELECT ON audit_archives TO %I', writer);
        EXECUTE format('GRANT SELECT, INSERT ON audit_archives TO %I', maintainer);
        EXECUTE format('GRANT USAGE ON SEQUENCE audit_archives_id_seq TO %I', maintainer);
      END
      $$;

      -- Any session may set a setting, so the old gateway.audit_maintenance switch protected nothing: privileges
      -- decide who may delete, and the trigger lets a delete through only for rows an archive already covers.
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT coalesce(max(up_to_seq), 0) FROM audit_archives) THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
      END
      $$ LANGUAGE plpgsql;

      -- New rows come chained; rows of logs older than the chain were chained at start (chainUnhashedRows).
      ALTER TABLE audit_events ADD CONSTRAINT audit_events_chained CHECK (hash IS NOT NULL AND prev_hash IS NOT NULL) NOT VALID;
    `,
  },
  { version: 4, description: 'audit log partitioned by month', sql: PARTITIONED_AUDIT_LOG },
  { version: 5, description: "audit months expired whole, archived first, kept for the owner's retention floor", sql: AUDIT_EXPIRY },
  { version: 6, description: 'content kept beside the chain, expired per team and customer; legal holds', sql: CONTENT_RETENTION },
  {
    version: 7,
    description: 'spend retention per team and customer',
    // Kept here with the other classes, answered to metering (LegalHolds), which files usage rows by it.
    sql: `ALTER TABLE retention_settings DROP CONSTRAINT retention_settings_data_class_check,
            ADD CONSTRAINT retention_settings_data_class_check CHECK (data_class IN ('toolArguments', 'spend'));`,
  },
];

/** Content, retention settings and holds: read by both roles, changed only through the owner's functions (content-schema.ts). */
const RETENTION_TABLES = ['audit_content', 'audit_content_held', 'retention_settings', 'legal_holds'];

/** Not seq: a row slipped into a gap of the sequence would sit among older rows. */
const APPEND = `INSERT (event_id, event_type, occurred_at, request_id, trace_id, service, source_address, actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload, prev_hash, hash) ON audit_events`;

/**
 * The audit log is written as <database>_audit_writer, which may only append
 * and read, and archived as <database>_audit_maintainer, which may also delete
 * rows an archive covers (the trigger of migration 3 refuses any other).
 */
export const auditDatabase: DatabasePlan = {
  components: [
    { name: DEAD_LETTERS_COMPONENT, migrations: deadLetterMigrations },
    { name: 'audit', migrations: auditMigrations },
  ],
  roles: {
    auditWriter: {
      // The consumer writes one batch at a time; the rest serve auditors' reads and checkpoints.
      poolSize: 4,
      grants: [
        ...tableGrants('SELECT', ['audit_events', 'audit_archives', ...RETENTION_TABLES], ['audit_events_seq_seq']),
        APPEND,
        'EXECUTE ON FUNCTION audit_keep_content(int, uuid[], text[], text[])',
        ...deadLetterTables,
      ],
    },
    auditMaintainer: {
      poolSize: 2,
      grants: [
        ...tableGrants('SELECT, DELETE', ['audit_events'], ['audit_events_seq_seq', 'audit_archives_id_seq']),
        APPEND,
        'SELECT, INSERT ON audit_archives',
        ...tableGrants('SELECT', RETENTION_TABLES, []),
        // The admin API's changes of retention and holds (retention-admin.ts); content itself only through audit_expire_content.
        'INSERT, UPDATE, DELETE ON retention_settings, legal_holds',
        // Its only way to drop a month (partitions.ts): archived, past retention and the owner's floor.
        'EXECUTE ON FUNCTION audit_expiry_boundary(int), audit_maintain_partitions(int), audit_expire_content()',
      ],
    },
  },
  async afterMigrate(owner, log) {
    // Before any new row: rows of a log older than the hash chain join it first.
    const chained = await owner.transaction((tx) => chainUnhashedRows(tx));
    if (chained > 0) log.info({ rows: chained }, 'chained audit rows written before the hash chain existed');
  },
};
