import { SCHEMA_LOCK } from '../kit/db/migrate.js';
import type { Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import { type Event, ledgerExpiredEvent } from '../kit/events.js';
import type { LedgerExpiry } from '../gen/gateway/v1/events.js';
import { ROLLUP_EXPIRY } from './rollups.js';
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
    RETURNS TABLE (action text, partition_name text, rows bigint) LANGUAGE plpgsql SECURITY DEFINER AS $$
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
        IF partition_name IS NOT NULL THEN action := 'created'; rows := 0; RETURN NEXT; END IF;
      END LOOP;
      CONTINUE WHEN kept = 0;
      FOR old IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = ledger::regclass AND c.relname ~ ('^' || ledger || '_p[0-9]{6}$') ORDER BY 1 LOOP
        IF (to_date(right(old, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
          -- Counted for the expiry's audit record (ledger.expired): a scan of the month, under the same lock.
          EXECUTE format('SELECT count(*) FROM %I', old) INTO rows;
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

/**
 * Metering migration 12: the two expiries say what they removed (rows, and a rollup's bucket range), for the audit
 * record metering publishes of each (ledger.expired); their result types change, so they are made anew.
 */
export const COUNTED_EXPIRY = `
  DROP FUNCTION metering_maintain_partitions(int, int);
  DROP FUNCTION metering_expire_rollups(int, int);
  ${maintainFunction(RETENTION_FLOOR)}
  ${ROLLUP_EXPIRY}`;

/** Metering migration 6: the same function, keeping at least the owner's retention floor whatever its caller asks. */
export const RETENTION_FLOOR_FUNCTION = maintainFunction(RETENTION_FLOOR);

/** A plain ledger table moved to one partitioned by month (partitionByMonth), its months made by metering_add_partition. */
export function partitionLedger(table: string, options: Omit<Parameters<typeof partitionByMonth>[1], 'addPartition'>): string {
  return partitionByMonth(table, { ...options, addPartition: 'metering_add_partition' });
}

export interface Maintenance {
  retention: { retentionDays: number; rollupRetentionDays: { hourly: number; daily: number } };
  /** Whether any team or customer is under a legal hold (the audit service's to say). */
  held: () => Promise<boolean>;
  /** Publishes the expiry's audit record. */
  publish: (event: Event) => void;
  log: Logger;
}

/**
 * Makes the ledgers' coming months, and expires their past months and the spend rollups' buckets, unless a legal hold
 * is placed or cannot be ruled out (the audit service does not answer): then nothing expires (docs/retention.md).
 * What went is published as one ledger.expired event, for the audit log.
 */
export async function maintainLedgers(db: Queryable, { retention, held, publish, log }: Maintenance): Promise<void> {
  const keep = await held().then(
    (placed) => {
      if (placed) log.info('a legal hold is placed: the ledgers and rollups keep everything past retention');
      return placed;
    },
    (err: unknown) => {
      log.warn({ err }, 'cannot learn whether a legal hold is placed: the ledgers and rollups keep everything this time');
      return true;
    },
  );
  const partitions = await db.query<{ action: string; partition_name: string; rows: string }>(
    'SELECT action, partition_name, rows FROM metering_maintain_partitions($1, $2)',
    [MONTHS_AHEAD, keep ? 0 : retention.retentionDays],
  );
  for (const r of partitions.rows) log.info({ partition: r.partition_name }, `usage ledger partition ${r.action}`);
  const dropped = partitions.rows.filter((r) => r.action === 'dropped');
  if (!keep) {
    // Tenants' spend retention (tenant-retention.ts): each tree's months past its own days.
    const kept = await db.query<{ action: string; partition_name: string; rows: string }>('SELECT action, partition_name, rows FROM metering_expire_kept()');
    dropped.push(...kept.rows);
  }
  const expiries: LedgerExpiry[] = dropped.map((r) => {
    const month = new Date(`${r.partition_name.slice(-6, -2)}-${r.partition_name.slice(-2)}-01T00:00:00Z`);
    const next = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1));
    // usage_records_k30_p202401 is a month of usage_records, filed under 30 days.
    const table = r.partition_name.slice(0, -'_pYYYYMM'.length).replace(/_k\d+$/, '');
    return { table, partition: r.partition_name, rows: Number(r.rows), from: month.toISOString(), to: new Date(next.getTime() - 1).toISOString() };
  });
  if (!keep) {
    const { hourly, daily } = retention.rollupRetentionDays;
    const rollups = await db.query<{ rollup: string; rows: string; oldest: Date; newest: Date }>(
      'SELECT rollup, rows, oldest, newest FROM metering_expire_rollups($1, $2)',
      [hourly, daily],
    );
    for (const r of rollups.rows) {
      log.info({ rollup: r.rollup, rows: Number(r.rows) }, 'spend rollup rows expired');
      expiries.push({ table: r.rollup, partition: '', rows: Number(r.rows), from: r.oldest.toISOString(), to: r.newest.toISOString() });
    }
  }
  if (expiries.length > 0) publish(ledgerExpiredEvent({ service: 'metering' }, { expiries }));
}

/** Runs maintainLedgers now and every hour; returns the timer (stopped with the service). */
export function startPartitionMaintenance(db: Queryable, maintenance: Maintenance): NodeJS.Timeout {
  const run = () =>
    maintainLedgers(db, maintenance).catch((err: unknown) => maintenance.log.error({ err }, 'usage ledger partition maintenance failed; will try again'));
  void run();
  const timer = setInterval(() => void run(), MAINTENANCE_EVERY_MS);
  timer.unref();
  return timer;
}
