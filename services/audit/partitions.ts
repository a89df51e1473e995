import { SCHEMA_LOCK } from '../kit/db/migrate.js';
import { addPartitionFunction, MONTHS_AHEAD, partitionByMonth, RETENTION_FLOOR } from '../kit/db/partitions.js';

/**
 * Audit migration 4: audit_events partitioned by month of occurred_at (the event's time, which searches filter on),
 * like the usage ledger (docs/records.md). The key becomes (seq, occurred_at), as PostgreSQL requires the partition
 * column in every unique key; the chain's order stays by seq, whose sequence outlives the old table. The append-only
 * triggers and the chained check move to the new table, and are cloned onto every partition.
 */
export const PARTITIONED_AUDIT_LOG = `${addPartitionFunction('audit_add_partition', ['audit_events'])}
  ALTER SEQUENCE audit_events_seq_seq OWNED BY NONE;
  ${partitionByMonth('audit_events', {
    key: 'seq, occurred_at',
    dropped: {
      constraints: ['audit_events_pkey', 'audit_events_event_id_key', 'audit_events_chained'],
      indexes: ['audit_events_request_id', 'audit_events_occurred_at', 'audit_events_event_type', 'audit_events_actor'],
    },
    indexes: [
      // A redelivered event has the same id and time: refused as before (the writer leaves known ids out first).
      ['audit_events_event_id_key', 'event_id, occurred_at', 'UNIQUE'],
      ['audit_events_request_id', 'request_id'],
      ['audit_events_occurred_at', 'occurred_at'],
      ['audit_events_event_type', 'event_type, occurred_at'],
      ['audit_events_actor', 'actor_key_id, occurred_at'],
    ],
    addPartition: 'audit_add_partition',
  })}
  ALTER SEQUENCE audit_events_seq_seq OWNED BY audit_events.seq;
  CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
  CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
  ALTER TABLE audit_events ADD CONSTRAINT audit_events_chained CHECK (hash IS NOT NULL AND prev_hash IS NOT NULL) NOT VALID;
`;

/**
 * Audit migration 5: expiry by whole months, held to the owner's retention floor (docs/audit.md, Retention).
 * An archive now records its first row and a checkpoint of its last, so verify can resume from it when the file is
 * kept elsewhere. audit_expiry_boundary tells the maintainer from which instant rows are kept;
 * audit_maintain_partitions makes the coming months and, with a retention, drops the months before that instant whose
 * every row an archive covers. Both are SECURITY DEFINER, granted to the maintainer only, and take a number of days,
 * never a name or a date. The trigger, now the owner's too (it reads the floor), lets a DELETE through only for
 * archived rows older than the floor.
 */
export const AUDIT_EXPIRY = `
  ALTER TABLE audit_archives ADD COLUMN first_seq BIGINT, ADD COLUMN checkpoint JSONB;

  CREATE FUNCTION audit_expiry_boundary(retention_days int) RETURNS timestamptz LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
  BEGIN
    IF retention_days < 1 THEN RAISE EXCEPTION 'retention days must be 1 or more'; END IF;
    RETURN date_trunc('month', (now() - make_interval(days => greatest(retention_days, ${RETENTION_FLOOR}))) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  END $$;

  CREATE FUNCTION audit_maintain_partitions(retention_days int) RETURNS TABLE (action text, partition_name text)
    LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    boundary timestamptz := CASE WHEN retention_days = 0 THEN '-infinity' ELSE audit_expiry_boundary(retention_days) END;
    archived bigint := (SELECT coalesce(max(up_to_seq), 0) FROM audit_archives);
    old text;
    last bigint;
  BEGIN
    IF retention_days < 0 THEN RAISE EXCEPTION 'retention days must be 0 (keep) or more'; END IF;
    PERFORM pg_advisory_xact_lock(${SCHEMA_LOCK});
    FOR i IN 0..${MONTHS_AHEAD} LOOP
      partition_name := audit_add_partition('audit_events', (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date);
      IF partition_name IS NOT NULL THEN action := 'created'; RETURN NEXT; END IF;
    END LOOP;
    FOR old IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'audit_events'::regclass AND c.relname ~ '^audit_events_p[0-9]{6}$' ORDER BY 1 LOOP
      CONTINUE WHEN (to_date(right(old, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' > boundary;
      EXECUTE format('SELECT max(seq) FROM %I', old) INTO last;
      -- Never a month with a row no archive covers: the chain would lose it.
      CONTINUE WHEN last > archived;
      EXECUTE format('DROP TABLE %I', old);
      action := 'dropped';
      partition_name := old;
      RETURN NEXT;
    END LOOP;
  END $$;

  CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
  BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT coalesce(max(up_to_seq), 0) FROM audit_archives)
       AND OLD.occurred_at < now() - make_interval(days => ${RETENTION_FLOOR}) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
  END
  $$ LANGUAGE plpgsql SECURITY DEFINER;
  REVOKE ALL ON FUNCTION audit_expiry_boundary(int), audit_maintain_partitions(int) FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION audit_expiry_boundary(int) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION audit_maintain_partitions(int) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION audit_events_append_only() SET search_path = %I, pg_temp', current_schema());
  END $$;
`;
