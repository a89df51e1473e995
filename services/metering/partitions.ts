import { SCHEMA_LOCK } from '../kit/db/migrate.js';
import type { Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import { addPartitionFunction, MONTHS_AHEAD, partitionByMonth, RETENTION_FLOOR } from '../kit/db/partitions.js';

const LEDGERS = ['usage_records', 'tool_call_records'];
const MAINTENANCE_EVERY_MS = 3_600_000;

/**
 * The owner's functions that keep the ledgers' monthly partitions (docs/records.md). metering_add_partition (the
 * owner's only) makes one month's partition; metering_maintain_partitions, SECURITY DEFINER and granted to the
 * metering role, takes only numbers: it makes the coming months' partitions and drops whole those past retention,
 * never younger than the owner's retention floor, for these two tables only.
 */
export const PARTITION_FUNCTIONS = `${addPartitionFunction('metering_add_partition', LEDGERS)}
  ${maintainFunction()}`;

/** metering_maintain_partitions; `floor` is the SQL of the least retention it keeps (0 in migration 5, the owner's after). */
function maintainFunction(floor = '0'): string {
  return `
  CREATE OR REPLACE FUNCTION metering_maintain_partitions(months_ahead int, retention_days int)
    RETURNS TABLE (action text, partition_name text) LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    ledger text;
    old text;
    kept int := CASE WHEN retention_days = 0 THEN 0 ELSE greatest(retention_days, ${floor}) END;
    cutoff timestamptz := now() - make_interval(days => kept);
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
      CONTINUE WHEN kept = 0;
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

  REVOKE ALL ON FUNCTION metering_maintain_partitions(int, int) FROM PUBLIC;
  -- A definer's function resolves names in its own schema only (pg_catalog first, pg_temp last), never the caller's.
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION metering_maintain_partitions(int, int) SET search_path = %I, pg_temp', current_schema());
  END $$;`;
}

/** Metering migration 6: the same function, keeping at least the owner's retention floor whatever its caller asks. */
export const RETENTION_FLOOR_FUNCTION = maintainFunction(RETENTION_FLOOR);

/** A plain ledger table moved to one partitioned by month (partitionByMonth), its months made by metering_add_partition. */
export function partitionLedger(table: string, options: Omit<Parameters<typeof partitionByMonth>[1], 'addPartition'>): string {
  return partitionByMonth(table, { ...options, addPartition: 'metering_add_partition' });
}

/**
 * Keeps the partitions, and expires the spend rollups, now and every hour, as the metering role; returns the timer
 * (stopped with the service).
 */
export function startPartitionMaintenance(
  db: Queryable,
  retention: { retentionDays: number; rollupRetentionDays: { hourly: number; daily: number } },
  log: Logger,
): NodeJS.Timeout {
  const run = async () => {
    try {
      const partitions = await db.query<{ action: string; partition_name: string }>('SELECT action, partition_name FROM metering_maintain_partitions($1, $2)', [
        MONTHS_AHEAD,
        retention.retentionDays,
      ]);
      for (const r of partitions.rows) log.info({ partition: r.partition_name }, `usage ledger partition ${r.action}`);
      const { hourly, daily } = retention.rollupRetentionDays;
      const rollups = await db.query<{ rollup: string; rows: string }>('SELECT rollup, rows FROM metering_expire_rollups($1, $2)', [hourly, daily]);
      for (const r of rollups.rows) log.info({ rollup: r.rollup, rows: Number(r.rows) }, 'spend rollup rows expired');
    } catch (err) {
      log.error({ err }, 'usage ledger partition maintenance failed; will try again');
    }
  };
  void run();
  const timer = setInterval(() => void run(), MAINTENANCE_EVERY_MS);
  timer.unref();
  return timer;
}
