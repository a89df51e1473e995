import { SCHEMA_LOCK } from '../kit/db/migrate.js';
import type { Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';

/** Monthly partitions made ahead of the rows that will fill them, so the DEFAULT partition stays empty. */
export const MONTHS_AHEAD = 3;
const MAINTENANCE_EVERY_MS = 3_600_000;

/**
 * The owner's functions that keep the ledgers' monthly partitions (docs/records.md).
 * metering_add_partition (the owner's only) makes `<ledger>_pYYYYMM` for a UTC month, moving into it any rows
 * the DEFAULT partition caught for that month, then attaching it (which locks the ledger less than CREATE ...
 * PARTITION OF). metering_maintain_partitions, SECURITY DEFINER and granted to the metering role, takes only
 * numbers: it makes the coming months' partitions and drops whole those past retention, for these two tables only.
 */
export const PARTITION_FUNCTIONS = `
  CREATE FUNCTION metering_add_partition(ledger text, month date) RETURNS text LANGUAGE plpgsql AS $$
  DECLARE
    first date := date_trunc('month', month)::date;
    name text := ledger || '_p' || to_char(first, 'YYYYMM');
    lower timestamptz := first::timestamp AT TIME ZONE 'UTC';
    upper timestamptz := (first + interval '1 month')::timestamp AT TIME ZONE 'UTC';
  BEGIN
    IF ledger NOT IN ('usage_records', 'tool_call_records') THEN RAISE EXCEPTION 'not a metering ledger: %', ledger; END IF;
    IF first NOT BETWEEN date '2000-01-01' AND date '9999-01-01' THEN RAISE EXCEPTION 'no partition for %', first; END IF;
    IF to_regclass(name) IS NOT NULL THEN RETURN NULL; END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', name, ledger);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
      ledger || '_default', name) USING lower, upper;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', ledger, name, lower, upper);
    RETURN name;
  END $$;

  CREATE FUNCTION metering_maintain_partitions(months_ahead int, retention_days int)
    RETURNS TABLE (action text, partition_name text) LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    ledger text;
    old text;
    cutoff timestamptz := now() - make_interval(days => retention_days);
  BEGIN
    IF months_ahead NOT BETWEEN 0 AND 24 OR retention_days < 0 THEN
      RAISE EXCEPTION 'months ahead must be 0 to 24 and retention days 0 (keep) or more';
    END IF;
    -- Two metering replicas take turns, and wait for any service's migrations and grants: a grant on the ledger at
    -- the same moment would fail with "tuple concurrently updated".
    PERFORM pg_advisory_xact_lock(${SCHEMA_LOCK});
    FOR ledger IN SELECT c.relname::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                   WHERE c.relnamespace = current_schema()::regnamespace AND c.relname IN ('usage_records', 'tool_call_records') LOOP
      FOR i IN 0..months_ahead LOOP
        partition_name := metering_add_partition(ledger, (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date);
        IF partition_name IS NOT NULL THEN action := 'created'; RETURN NEXT; END IF;
      END LOOP;
      CONTINUE WHEN retention_days = 0;
      FOR old IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = ledger::regclass AND c.relname ~ ('^' || ledger || '_p[0-9]{6}$') ORDER BY 1 LOOP
        IF (to_date(right(old, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
          EXECUTE format('DROP TABLE %I', old);
          action := 'dropped';
          partition_name := old;
          RETURN NEXT;
        END IF;
      END LOOP;
      -- Strays the DEFAULT partition caught (times before the first partition) expire row by row: there are few.
      EXECUTE format('DELETE FROM %I WHERE occurred_at < $1', ledger || '_default') USING cutoff;
    END LOOP;
  END $$;

  REVOKE ALL ON FUNCTION metering_add_partition(text, date), metering_maintain_partitions(int, int) FROM PUBLIC;
  -- A definer's function resolves names in its own schema only (pg_catalog first, pg_temp last), never the caller's.
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION metering_add_partition(text, date) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION metering_maintain_partitions(int, int) SET search_path = %I, pg_temp', current_schema());
  END $$;
`;

/**
 * Moves a plain ledger table to one partitioned by month of occurred_at, in the migration's transaction: the old
 * table is renamed and stripped of its indexes (their names are the schema's), its rows copied into partitions made
 * for every month they span and the coming ones, and dropped. `key` is the new primary key, which PostgreSQL
 * requires to include occurred_at; `indexes` are name and columns, made on the partitioned table.
 */
export function partitionLedger(
  table: string,
  options: { key: string; dropped: { constraints: string[]; indexes: string[] }; indexes: [string, string][] },
): string {
  const old = `${table}_unpartitioned`;
  return `
    ALTER TABLE ${table} RENAME TO ${old};
    ALTER TABLE ${old} ${options.dropped.constraints.map((c) => `DROP CONSTRAINT ${c}`).join(', ')};
    DROP INDEX ${options.dropped.indexes.join(', ')};
    CREATE TABLE ${table} (LIKE ${old} INCLUDING DEFAULTS, PRIMARY KEY (${options.key})) PARTITION BY RANGE (occurred_at);
    ${options.indexes.map(([name, columns]) => `CREATE INDEX ${name} ON ${table} (${columns});`).join('\n    ')}
    -- Catches a row whose month has no partition yet (a clock far off): never lost, moved out when its month is made.
    CREATE TABLE ${table}_default PARTITION OF ${table} DEFAULT;
    SELECT metering_add_partition('${table}', month)
      FROM (SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date AS month FROM ${old}
            UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date FROM generate_series(0, ${MONTHS_AHEAD}) i) months;
    INSERT INTO ${table} SELECT * FROM ${old};
    DROP TABLE ${old};
  `;
}

/** Keeps the partitions now and every hour, as the metering role; returns the timer (stopped with the service). */
export function startPartitionMaintenance(db: Queryable, retentionDays: number, log: Logger): NodeJS.Timeout {
  const run = () =>
    db
      .query<{ action: string; partition_name: string }>('SELECT action, partition_name FROM metering_maintain_partitions($1, $2)', [
        MONTHS_AHEAD,
        retentionDays,
      ])
      .then(
        ({ rows }) => rows.forEach((r) => log.info({ partition: r.partition_name }, `usage ledger partition ${r.action}`)),
        (err: unknown) => log.error({ err }, 'usage ledger partition maintenance failed; will try again'),
      );
  void run();
  const timer = setInterval(() => void run(), MAINTENANCE_EVERY_MS);
  timer.unref();
  return timer;
}
