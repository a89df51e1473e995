import { SCHEMA_LOCK } from '../kit/db/migrate.js';
import { RETENTION_FLOOR } from '../kit/db/partitions.js';

/** Whether a row of a team or customer is under a legal hold (`t` is the row's alias). */
const HELD = (t: string) => `EXISTS (SELECT 1 FROM legal_holds h
      WHERE (h.scope = 'team' AND h.scope_id = ${t}.team_id) OR (h.scope = 'customer' AND h.scope_id = ${t}.customer_id))`;

/**
 * Audit migration 6: content kept beside the chain, expired by its own retention per team and customer, and legal
 * holds (docs/retention.md). A chained row keeps its content's SHA-256; the text is in audit_content, partitioned by
 * the UTC month in which it expires (computed as it is written), so expiry is a DROP of a past month. Rows of a held
 * team or customer are set aside in audit_content_held before their month is dropped, and go at the first expiry
 * run after the hold is lifted. The runtime roles reach the table only through the two functions below.
 */
export const CONTENT_RETENTION = `
  CREATE TABLE retention_settings (
    scope TEXT NOT NULL CHECK (scope IN ('team', 'customer')),
    scope_id TEXT NOT NULL CHECK (scope_id <> ''),
    data_class TEXT NOT NULL CHECK (data_class IN ('toolArguments')),
    days INTEGER NOT NULL CHECK (days >= 0),
    PRIMARY KEY (scope, scope_id, data_class)
  );
  CREATE TABLE legal_holds (
    scope TEXT NOT NULL CHECK (scope IN ('team', 'customer')),
    scope_id TEXT NOT NULL CHECK (scope_id <> ''),
    reason TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_id)
  );
  -- expires_on: the first day of the UTC month in which the content's retention ends ('infinity': kept).
  CREATE TABLE audit_content (
    event_id UUID NOT NULL,
    expires_on DATE NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    team_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    data_class TEXT NOT NULL,
    content JSONB NOT NULL,
    PRIMARY KEY (event_id, expires_on)
  ) PARTITION BY RANGE (expires_on);
  CREATE TABLE audit_content_kept PARTITION OF audit_content FOR VALUES FROM ('infinity') TO (MAXVALUE);
  CREATE TABLE audit_content_held (LIKE audit_content, PRIMARY KEY (event_id));

  -- The writer's only way in: content of rows just chained whose payload names its SHA-256, so it can neither
  -- attach text to another row nor choose when it expires (the tenant's setting, else the caller's default,
  -- never below the owner's floor).
  CREATE FUNCTION audit_keep_content(default_days int, ids uuid[], classes text[], texts text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    r record;
    days int;
    expires date;
    part text;
  BEGIN
    IF default_days < 0 THEN RAISE EXCEPTION 'retention days must be 0 (keep) or more'; END IF;
    FOR r IN SELECT e.event_id, e.occurred_at, e.actor_team_id, e.actor_customer_id, c.class, c.text, e.payload->'content'->>'sha256' AS sha256
               FROM unnest(ids, classes, texts) AS c(id, class, text) JOIN audit_events e ON e.event_id = c.id
              WHERE e.recorded_at = now() LOOP
      IF r.sha256 IS DISTINCT FROM encode(sha256(convert_to(r.text, 'UTF8')), 'hex') THEN
        RAISE EXCEPTION 'content of % does not match the SHA-256 its row keeps', r.event_id;
      END IF;
      days := coalesce(
        (SELECT s.days FROM retention_settings s WHERE s.scope = 'team' AND s.scope_id = r.actor_team_id AND s.data_class = r.class),
        (SELECT s.days FROM retention_settings s WHERE s.scope = 'customer' AND s.scope_id = r.actor_customer_id AND s.data_class = r.class),
        default_days);
      expires := CASE WHEN days = 0 THEN 'infinity'::date
        ELSE date_trunc('month', (r.occurred_at + make_interval(days => greatest(days, ${RETENTION_FLOOR}))) AT TIME ZONE 'UTC')::date END;
      IF expires <> 'infinity'::date THEN
        part := 'audit_content_e' || to_char(expires, 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
          EXECUTE format('CREATE TABLE %I (LIKE audit_content INCLUDING DEFAULTS)', part);
          EXECUTE format('ALTER TABLE audit_content ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, expires, (expires + interval '1 month')::date);
        END IF;
      END IF;
      INSERT INTO audit_content VALUES (r.event_id, expires, r.occurred_at, r.actor_team_id, r.actor_customer_id, r.class, r.text::jsonb)
        ON CONFLICT DO NOTHING;
    END LOOP;
  END $$;

  -- The maintainer's: drops every month of content whose expiry has passed (and whose rows are all older than the
  -- owner's floor, which may have been raised since they were written), setting aside the rows of held teams and
  -- customers first, and deletes set-aside rows whose hold is lifted. Returns what went, for the audit record.
  CREATE FUNCTION audit_expire_content() RETURNS TABLE (partition_name text, data_class text, team_id text, customer_id text, rows bigint, held boolean)
    LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    old text;
    newest timestamptz;
  BEGIN
    PERFORM pg_advisory_xact_lock(${SCHEMA_LOCK});
    RETURN QUERY WITH gone AS (
        DELETE FROM audit_content_held c WHERE NOT ${HELD('c')} AND c.occurred_at < now() - make_interval(days => ${RETENTION_FLOOR})
        RETURNING c.data_class, c.team_id, c.customer_id)
      SELECT 'audit_content_held', g.data_class, g.team_id, g.customer_id, count(*), false FROM gone g GROUP BY 2, 3, 4 ORDER BY 2, 3, 4;
    FOR old IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'audit_content'::regclass AND c.relname ~ '^audit_content_e[0-9]{6}$' ORDER BY 1 LOOP
      CONTINUE WHEN (to_date(right(old, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' > now();
      EXECUTE format('SELECT max(occurred_at) FROM %I', old) INTO newest;
      CONTINUE WHEN newest >= now() - make_interval(days => ${RETENTION_FLOOR});
      EXECUTE format('INSERT INTO audit_content_held SELECT * FROM %I c WHERE ${HELD('c').replaceAll("'", "''")}', old);
      RETURN QUERY EXECUTE format(
        'SELECT %L, c.data_class, c.team_id, c.customer_id, count(*), ${HELD('c').replaceAll("'", "''")} FROM %I c GROUP BY 2, 3, 4, 6 ORDER BY 2, 3, 4',
        old, old);
      EXECUTE format('DROP TABLE %I', old);
    END LOOP;
  END $$;

  REVOKE ALL ON FUNCTION audit_keep_content(int, uuid[], text[], text[]), audit_expire_content() FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION audit_keep_content(int, uuid[], text[], text[]) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION audit_expire_content() SET search_path = %I, pg_temp', current_schema());
  END $$;

  -- While any legal hold is placed, no month of the log is archived or dropped: a month holds every tenant's rows.
  CREATE OR REPLACE FUNCTION audit_expiry_boundary(retention_days int) RETURNS timestamptz LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
  BEGIN
    IF retention_days < 1 THEN RAISE EXCEPTION 'retention days must be 1 or more'; END IF;
    IF EXISTS (SELECT 1 FROM legal_holds) THEN RETURN '-infinity'; END IF;
    RETURN date_trunc('month', (now() - make_interval(days => greatest(retention_days, ${RETENTION_FLOOR}))) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  END $$;
`;
