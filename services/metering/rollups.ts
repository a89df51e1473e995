import { RETENTION_FLOOR } from '../kit/db/partitions.js';
import type { Where } from './grouped.js';

/**
 * Spend rollups (docs/records.md#spend-rollups): the usage ledger summed per UTC hour and per UTC day, by key, team,
 * customer, model, provider and billed unit. A trigger on the ledger adds each INSERT's new rows to them in the
 * same statement, so they are never out of step with the rows; a redelivered event inserts no row and adds nothing.
 * Tags are not in them: a report by or filtered on tag reads the ledger (spend.ts).
 */

/** The ledger's columns a rollup row is keyed by, besides its bucket. */
const DIMENSIONS = ['key_id', 'team_id', 'customer_id', 'model', 'provider', 'billed_unit'];

const MONEY = [
  'cost_usd',
  'input_cost_usd',
  'cache_read_cost_usd',
  'cache_write_cost_usd',
  'output_cost_usd',
  'reasoning_cost_usd',
  'units_cost_usd',
  'saved_usd',
];
const TOKENS = ['prompt_tokens', 'completion_tokens', 'total_tokens', 'cached_tokens', 'reasoning_tokens', 'cache_write_tokens', 'cache_write_1h_tokens'];

/** Each sum a rollup keeps: its column, its type, and how a set of ledger rows sums into it. */
const MEASURES: [column: string, type: string, sum: string][] = [
  ['requests', 'bigint', 'count(*)'],
  ['failed_requests', 'bigint', "count(*) FILTER (WHERE outcome = 'failed')"],
  ['unpriced_requests', 'bigint', 'count(*) FILTER (WHERE cost_usd IS NULL)'],
  ['cache_hits', 'bigint', 'count(*) FILTER (WHERE cache_hit)'],
  ...TOKENS.map((c): [string, string, string] => [c, 'bigint', `sum(${c})`]),
  ['billed_quantity', 'double precision', 'sum(billed_quantity)'],
  // NUMERIC without a scale keeps the rows' own scale, so a report's text is the same from rollups as from rows.
  ...MONEY.map((c): [string, string, string] => [c, 'numeric', `coalesce(sum(${c}), 0)`]),
];

export type Grain = 'hour' | 'day';
const TABLES: Record<Grain, string> = { hour: 'usage_rollup_hourly', day: 'usage_rollup_daily' };
const KEY = `bucket, ${DIMENSIONS.join(', ')}`;

/** `source`'s rows (the ledger, or a statement's new rows) summed per `grain` of their time, as rollup rows. */
function summed(source: string, grain: Grain, where = ''): string {
  return `SELECT date_trunc('${grain}', occurred_at, 'UTC') AS bucket, ${DIMENSIONS.join(', ')}, ${MEASURES.map(([c, , sum]) => `${sum} AS ${c}`).join(', ')}
    FROM ${source} ${where} GROUP BY 1, ${DIMENSIONS.map((_, i) => i + 2).join(', ')}`;
}

/** Adds `source`'s rows to a rollup: a bucket's row is made, or has the new sums added to it. */
function added(source: string, grain: Grain): string {
  const table = TABLES[grain];
  return `INSERT INTO ${table} AS r (${KEY}, ${MEASURES.map(([c]) => c).join(', ')}) ${summed(source, grain)}
    ON CONFLICT (${KEY}) DO UPDATE SET ${MEASURES.map(([c]) => `${c} = r.${c} + EXCLUDED.${c}`).join(', ')};`;
}

/** The rollups filled from the ledger's rows, as an upgrade does (bench:records times it). */
export const BACKFILL = `${added('usage_records', 'hour')}
  ${added('usage_records', 'day')}`;

/**
 * Metering migration 9. The trigger comes before the back-fill: CREATE TRIGGER locks the ledger against inserts
 * until the migration commits, so every row is summed once, by the back-fill or by the trigger. The trigger's
 * function runs as the owner: the metering role reads the rollups and cannot change them.
 */
export const ROLLUPS_MIGRATION = `
  ${(['hour', 'day'] as const)
    .map(
      (grain) => `
  CREATE TABLE ${TABLES[grain]} (
    bucket timestamptz NOT NULL,
    ${DIMENSIONS.map((d) => `${d} text NOT NULL`).join(', ')},
    ${MEASURES.map(([c, type]) => `${c} ${type} NOT NULL`).join(', ')},
    PRIMARY KEY (${KEY})
  ) WITH (fillfactor = 80);`,
    )
    .join('\n')}

  -- A report reads at most two days of hours (its range's ends), by bucket: only the days need the filters' indexes.
  CREATE INDEX usage_rollup_daily_key ON usage_rollup_daily (key_id, bucket);
  CREATE INDEX usage_rollup_daily_team ON usage_rollup_daily (team_id, bucket);
  CREATE INDEX usage_rollup_daily_customer ON usage_rollup_daily (customer_id, bucket);

  CREATE FUNCTION usage_rollups_add() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
  BEGIN
    ${added('inserted', 'hour')}
    ${added('inserted', 'day')}
    RETURN NULL;
  END $$;
  REVOKE ALL ON FUNCTION usage_rollups_add() FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION usage_rollups_add() SET search_path = %I, pg_temp', current_schema());
  END $$;
  CREATE TRIGGER usage_rollups AFTER INSERT ON usage_records REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollups_add();

  ${BACKFILL}`;

/** The sums of a report over rollup-shaped rows, as spend.ts reads them (money as exact text). */
export const ROLLUP_REPORT_MEASURES = MEASURES.filter(([c]) => !['failed_requests', 'total_tokens', 'cache_write_1h_tokens', 'billed_quantity'].includes(c))
  .map(([c, type]) => (type === 'numeric' ? `coalesce(sum(${c}), 0)::text AS ${c}` : `coalesce(sum(${c}), 0) AS ${c}`))
  .join(', ');

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
type Piece = { source: 'ledger' | Grain; from?: number; to?: number };

/**
 * [from, to) cut into what can be read from each place: whole days from the daily rollup, whole hours at its ends
 * from the hourly one, and the minutes before the first whole hour and after the last from the ledger's rows.
 * An edge left out is open (every bucket on that side).
 */
export function pieces(from?: number, to?: number): Piece[] {
  const ceil = (t: number | undefined, unit: number) => (t === undefined ? undefined : Math.ceil(t / unit) * unit);
  const floor = (t: number | undefined, unit: number) => (t === undefined ? undefined : Math.floor(t / unit) * unit);
  const h0 = ceil(from, HOUR);
  const h1 = floor(to, HOUR);
  if (h0 !== undefined && h1 !== undefined && h0 >= h1) return [{ source: 'ledger', from, to }];
  const d0 = ceil(h0, DAY);
  const d1 = floor(h1, DAY);
  const cut: Piece[] = [];
  if (from !== h0) cut.push({ source: 'ledger', from, to: h0 });
  if (d0 !== undefined && d1 !== undefined && d0 >= d1) cut.push({ source: 'hour', from: h0, to: h1 });
  else {
    if (h0 !== d0) cut.push({ source: 'hour', from: h0, to: d0 });
    cut.push({ source: 'day', from: d0, to: d1 });
    if (d1 !== h1) cut.push({ source: 'hour', from: d1, to: h1 });
  }
  if (to !== h1) cut.push({ source: 'ledger', from: h1, to });
  return cut.filter((p) => p.from === undefined || p.to === undefined || p.from < p.to);
}

/** An edge PostgreSQL would read more finely than JavaScript (below the millisecond) is not cut: the ledger answers. */
const FINER_THAN_MS = /\.\d{3}\d*[1-9]/;

/**
 * The FROM of a report read from the rollups: its pieces (above) as one set of rollup-shaped rows, `occurred_at` the
 * bucket, filtered by `equals` (the filters' SQL without a time range). Undefined when an edge cannot be cut.
 */
export function rollupSource(range: { from: string; to: string }, equals: Where): { table: string; params: unknown[] } | undefined {
  if (FINER_THAN_MS.test(range.from) || FINER_THAN_MS.test(range.to)) return undefined;
  const params = [...equals.params];
  const bound = (column: string, op: string, at: number | undefined) => {
    if (at === undefined) return [];
    params.push(new Date(at).toISOString());
    return [`${column} ${op} $${params.length}`];
  };
  const parsed = (at: string) => (at ? Date.parse(at) : undefined);
  const selects = pieces(parsed(range.from), parsed(range.to)).map(({ source, from, to }) => {
    const column = source === 'ledger' ? 'occurred_at' : 'bucket';
    const conditions = [equals.sql.replace(/^WHERE /, ''), ...bound(column, '>=', from), ...bound(column, '<', to)].filter(Boolean);
    const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    return source === 'ledger' ? summed('usage_records', 'hour', where) : `SELECT * FROM ${TABLES[source]} ${where}`;
  });
  return { table: `(${selects.join(' UNION ALL ')}) AS rolled (occurred_at)`, params };
}

/**
 * Metering migration 10: the rollups expire, each after its own retention (the hourly one, as large as the ledger
 * where traffic is sparse, sooner than the daily one that spend reports over years read). A bucket goes once all of
 * it is older than the retention, never younger than the owner's floor; rows are deleted by bucket (the rollups' key
 * leads with it), as the rollups are not partitioned. SECURITY DEFINER, granted to metering, numbers only.
 */
export const ROLLUP_EXPIRY = `
  CREATE OR REPLACE FUNCTION metering_expire_rollups(hourly_days int, daily_days int)
    RETURNS TABLE (rollup text, rows bigint, oldest timestamptz, newest timestamptz) LANGUAGE plpgsql SECURITY DEFINER AS $$
  BEGIN
    IF hourly_days < 0 OR daily_days < 0 THEN RAISE EXCEPTION 'retention days must be 0 (keep) or more'; END IF;
    IF hourly_days > 0 THEN
      RETURN QUERY WITH gone AS (
          DELETE FROM usage_rollup_hourly WHERE bucket + interval '1 hour' <= now() - make_interval(days => greatest(hourly_days, ${RETENTION_FLOOR}))
          RETURNING bucket)
        SELECT 'usage_rollup_hourly', count(*), min(bucket), max(bucket) FROM gone HAVING count(*) > 0;
    END IF;
    IF daily_days > 0 THEN
      RETURN QUERY WITH gone AS (
          DELETE FROM usage_rollup_daily WHERE bucket + interval '1 day' <= now() - make_interval(days => greatest(daily_days, ${RETENTION_FLOOR}))
          RETURNING bucket)
        SELECT 'usage_rollup_daily', count(*), min(bucket), max(bucket) FROM gone HAVING count(*) > 0;
    END IF;
  END $$;
  REVOKE ALL ON FUNCTION metering_expire_rollups(int, int) FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION metering_expire_rollups(int, int) SET search_path = %I, pg_temp', current_schema());
  END $$;`;
