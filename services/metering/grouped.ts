import type { Database } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';

/** Calendar buckets (UTC) any ledger can be grouped by. */
export const TIME_DIMENSIONS: Record<string, string> = {
  day: "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  month: "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM')",
};

export interface Where {
  sql: string;
  params: unknown[];
}

/** A WHERE clause over occurred_at (from inclusive, to exclusive) and the given equalities (empty values are no filter). */
export function whereOf(range: { from: string; to: string }, equals: [column: string, value: string][]): Where {
  const params: unknown[] = [];
  const conditions: string[] = [];
  const add = (column: string, op: string, value: string) => {
    params.push(value);
    conditions.push(`${column} ${op} $${params.length}`);
  };
  for (const [field, value] of [
    ['from', range.from],
    ['to', range.to],
  ] as const) {
    if (value && Number.isNaN(Date.parse(value))) throw new GatewayError('invalid_request', `${field} must be an RFC 3339 time.`, { param: field });
  }
  if (range.from) add('occurred_at', '>=', range.from);
  if (range.to) add('occurred_at', '<', range.to);
  for (const [column, value] of equals) if (value) add(column, '=', value);
  return { sql: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', params };
}

type Row = Record<string, unknown>;

/**
 * The measures of a ledger table summed per group of the requested dimensions
 * (rows, ordered by the groups) and over everything matching (total).
 */
export async function groupedTotals(
  db: Database,
  options: { table: string; dimensions: Record<string, string>; joins?: Record<string, string>; measures: string; groupBy: string[]; where: Where },
): Promise<{ dims: string[]; rows: Row[]; total: Row }> {
  const dims = [...new Set(options.groupBy)];
  const unknown = dims.filter((d) => !(d in options.dimensions));
  if (unknown.length)
    throw new GatewayError('invalid_request', `Cannot group by ${unknown.join(', ')}; use ${Object.keys(options.dimensions).join(', ')}.`, {
      param: 'group_by',
    });
  const { sql, params } = options.where;
  const select = dims.map((d) => `${options.dimensions[d]} AS "${d}"`);
  const positions = dims.map((_, i) => i + 1).join(', ');
  // A dimension's join (a row per tag) is in the groups' query only: the total counts each row once.
  const from = [options.table, ...dims.flatMap((d) => options.joins?.[d] ?? [])].join(' ');
  const grouped = dims.length
    ? await db.query<Row>(`SELECT ${[...select, options.measures].join(', ')} FROM ${from} ${sql} GROUP BY ${positions} ORDER BY ${positions}`, params)
    : { rows: [] };
  const total = await db.query<Row>(`SELECT ${options.measures} FROM ${options.table} ${sql}`, params);
  return { dims, rows: grouped.rows, total: total.rows[0]! };
}
