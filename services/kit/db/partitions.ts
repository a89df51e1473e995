/** Monthly partitions made ahead of the rows that will fill them, so the DEFAULT partition stays empty. */
export const MONTHS_AHEAD = 3;

/**
 * The retention floor the owner stored as it migrated (database.retentionFloorDays; 0: none), for the owner's
 * partition functions: none drops a month younger than it, whatever retention its caller names (docs/records.md).
 */
export const RETENTION_FLOOR = `coalesce((SELECT value::int FROM gateway_settings WHERE name = 'retention_floor_days'), 0)`;

/**
 * An owner's function `<name>(ledger text, month date)` that makes `<ledger>_pYYYYMM` for a UTC month of one of
 * `tables`, moving into it any rows the DEFAULT partition caught for that month, then attaching it (which locks the
 * table less than CREATE ... PARTITION OF); it has the table's CHECK constraints, which ATTACH requires. Returns the partition's name, or NULL when it was there.
 */
export function addPartitionFunction(name: string, tables: string[]): string {
  return `
  CREATE FUNCTION ${name}(ledger text, month date) RETURNS text LANGUAGE plpgsql AS $$
  DECLARE
    first date := date_trunc('month', month)::date;
    name text := ledger || '_p' || to_char(first, 'YYYYMM');
    lower timestamptz := first::timestamp AT TIME ZONE 'UTC';
    upper timestamptz := (first + interval '1 month')::timestamp AT TIME ZONE 'UTC';
  BEGIN
    IF ledger NOT IN (${tables.map((t) => `'${t}'`).join(', ')}) THEN RAISE EXCEPTION 'not a partitioned ledger: %', ledger; END IF;
    IF first NOT BETWEEN date '2000-01-01' AND date '9999-01-01' THEN RAISE EXCEPTION 'no partition for %', first; END IF;
    IF to_regclass(name) IS NOT NULL THEN RETURN NULL; END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, ledger);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
      ledger || '_default', name) USING lower, upper;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', ledger, name, lower, upper);
    RETURN name;
  END $$;
  REVOKE ALL ON FUNCTION ${name}(text, date) FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION ${name}(text, date) SET search_path = %I, pg_temp', current_schema());
  END $$;`;
}

/**
 * Moves a plain table to one partitioned by month of occurred_at, in the migration's transaction: the old table is
 * renamed and stripped of its indexes (their names are the schema's), its rows copied into partitions made (by
 * `addPartition`, see addPartitionFunction) for every month they span and the coming ones, and dropped. `key` is the
 * new primary key, which PostgreSQL requires to include occurred_at (as must a unique index's columns).
 */
export function partitionByMonth(
  table: string,
  options: {
    key: string;
    dropped: { constraints: string[]; indexes: string[] };
    indexes: [name: string, columns: string, unique?: 'UNIQUE'][];
    addPartition: string;
  },
): string {
  const old = `${table}_unpartitioned`;
  return `
    ALTER TABLE ${table} RENAME TO ${old};
    ALTER TABLE ${old} ${options.dropped.constraints.map((c) => `DROP CONSTRAINT ${c}`).join(', ')};
    DROP INDEX ${options.dropped.indexes.join(', ')};
    CREATE TABLE ${table} (LIKE ${old} INCLUDING DEFAULTS, PRIMARY KEY (${options.key})) PARTITION BY RANGE (occurred_at);
    ${options.indexes.map(([name, columns, unique]) => `CREATE ${unique ?? ''} INDEX ${name} ON ${table} (${columns});`).join('\n    ')}
    -- Catches a row whose month has no partition yet (a clock far off): never lost, moved out when its month is made.
    CREATE TABLE ${table}_default PARTITION OF ${table} DEFAULT;
    SELECT ${options.addPartition}('${table}', month)
      FROM (SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date AS month FROM ${old}
            UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date FROM generate_series(0, ${MONTHS_AHEAD}) i) months;
    INSERT INTO ${table} SELECT * FROM ${old};
    DROP TABLE ${old};
  `;
}
