import type { RecentUsagePage, RecentUsageQuery, SpendQuery, SpendReport, SpendRow, UsagePage } from '../gen/gateway/v1/metering.js';
import type { Database } from '../kit/db/types.js';
import { groupedTotals, TIME_DIMENSIONS, whereOf, type Where } from './grouped.js';
import { ROLLUP_REPORT_MEASURES, rollupSource } from './rollups.js';

/** Dimensions spend can be grouped by, and the ledger expression of each. */
const DIMENSIONS: Record<string, string> = {
  key: 'key_id',
  team: 'team_id',
  customer: 'customer_id',
  model: 'model',
  provider: 'provider',
  // From the lateral join below: a request with several tags is in each tag's group, one with none in "".
  tag: 'tagged.tag',
  ...TIME_DIMENSIONS,
};

/** What grouping by tag adds to the ledger's FROM. */
const JOINS = { tag: 'LEFT JOIN LATERAL unnest(tags) AS tagged(tag) ON true' };

/** The ledger columns of cost_usd's parts. */
const COST_PARTS = ['input_cost_usd', 'cache_read_cost_usd', 'cache_write_cost_usd', 'output_cost_usd', 'reasoning_cost_usd', 'units_cost_usd'];

/** Sums in SQL over NUMERIC, returned as text: totals are exact, to the ledger's last decimal. */
const MEASURES = `COALESCE(SUM(cost_usd), 0)::text AS cost_usd, COALESCE(SUM(saved_usd), 0)::text AS saved_usd, count(*) AS requests,
  COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
  COALESCE(SUM(cached_tokens), 0) AS cached_tokens, COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,
  COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_requests,
  count(*) FILTER (WHERE cache_hit) AS cache_hits,
  ${COST_PARTS.map((column) => `COALESCE(SUM(${column}), 0)::text AS ${column}`).join(', ')}`;

const EXPORT_PAGE = 1_000;
/** Most rows of one read of recent usage. */
const RECENT_MOST = 1_000;

/** A ledger row as exported: every column but the recording order, money as exact decimal text. */
const ROW_COLUMNS = `request_id, occurred_at, outcome, key_id, team_id, customer_id, endpoint, model, provider, provider_model, deployment,
  prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cache_write_tokens, cache_write_1h_tokens,
  billed_unit, billed_quantity, billed_variant,
  cost_usd::text AS cost_usd, ${COST_PARTS.map((column) => `${column}::text AS ${column}`).join(', ')},
  saved_usd::text AS saved_usd, cache_hit, stream, http_status, duration_ms, COALESCE(tags, '{}') AS tags`;

const rowJson = (r: Record<string, unknown>) => JSON.stringify({ ...r, occurred_at: new Date(r.occurred_at as string).toISOString() });

/** `where` and one more condition. */
const and = (where: Where, condition: string) => `${where.sql ? `${where.sql} AND` : 'WHERE'} ${condition}`;

/** The filters of a query on columns the ledger and the rollups share; with its time range unless `range` is false. */
function equalities(query: SpendQuery, range = true): Where {
  return whereOf(range ? query : { from: '', to: '' }, [
    ['key_id', query.keyId],
    ['team_id', query.teamId],
    ['customer_id', query.customerId],
    ['model', query.model],
    ['provider', query.provider],
  ]);
}

function filters(query: SpendQuery): Where {
  const where = equalities(query);
  if (!query.tag) return where;
  const params = [...where.params, query.tag];
  return { sql: `${where.sql ? `${where.sql} AND` : 'WHERE'} $${params.length} = ANY(tags)`, params };
}

function toRow(row: Record<string, unknown>, dims: string[]): SpendRow {
  return {
    group: Object.fromEntries(dims.map((d) => [d, String(row[d] ?? '')])),
    costUsd: String(row.cost_usd),
    savedUsd: String(row.saved_usd),
    requests: Number(row.requests),
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    cachedTokens: Number(row.cached_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    unpricedRequests: Number(row.unpriced_requests),
    cacheHits: Number(row.cache_hits),
    inputCostUsd: String(row.input_cost_usd),
    cacheReadCostUsd: String(row.cache_read_cost_usd),
    cacheWriteCostUsd: String(row.cache_write_cost_usd),
    outputCostUsd: String(row.output_cost_usd),
    reasoningCostUsd: String(row.reasoning_cost_usd),
    unitsCostUsd: String(row.units_cost_usd),
  };
}

/** Spend and usage from the ledger and its rollups, for finance: grouped, filtered, exact. */
export class SpendReader {
  constructor(private readonly db: Database) {}

  /**
   * From the rollups, and the ledger's rows for the minutes at the range's ends, unless the query is by or on tag
   * (rollups hold no tags). Both ways give the same figures (rollups.test.ts); the rollups keep spend whose rows expired.
   */
  async spend(query: SpendQuery): Promise<SpendReport> {
    if (query.tag || query.groupBy.includes('tag')) return this.spendFromLedger(query);
    equalities(query); // refuses a malformed from or to as the ledger's report does
    const source = rollupSource(query, equalities(query, false));
    if (!source) return this.spendFromLedger(query);
    return this.report({ table: source.table, measures: ROLLUP_REPORT_MEASURES, groupBy: query.groupBy, where: { sql: '', params: source.params } });
  }

  /** From the ledger's rows alone: the reports by tag, and the reference the rollups are tested against. */
  spendFromLedger(query: SpendQuery): Promise<SpendReport> {
    return this.report({ table: 'usage_records', joins: JOINS, measures: MEASURES, groupBy: query.groupBy, where: filters(query) });
  }

  private async report(options: Omit<Parameters<typeof groupedTotals>[1], 'dimensions'>): Promise<SpendReport> {
    const { dims, rows, total } = await groupedTotals(this.db, { ...options, dimensions: DIMENSIONS });
    return { rows: rows.map((r) => toRow(r, dims)), total: toRow(total, []) };
  }

  async *exportUsage(query: SpendQuery): AsyncGenerator<UsagePage> {
    const { sql, params } = filters(query);
    let after: { at: string; id: string } | undefined;
    for (;;) {
      const keyset = after ? and({ sql, params }, `(occurred_at, request_id) > ($${params.length + 1}, $${params.length + 2})`) : sql;
      const { rows } = await this.db.query<Record<string, unknown>>(
        `SELECT ${ROW_COLUMNS} FROM usage_records ${keyset} ORDER BY occurred_at, request_id LIMIT ${EXPORT_PAGE}`,
        after ? [...params, after.at, after.id] : params,
      );
      if (rows.length === 0) return;
      yield { rowsJson: rows.map(rowJson) };
      const last = rows.at(-1)!;
      after = { at: new Date(last.occurred_at as string).toISOString(), id: String(last.request_id) };
      if (rows.length < EXPORT_PAGE) return;
    }
  }

  /**
   * Rows recorded after the cursor `after`, oldest first (at most `limit`), or on a first read (after 0) the newest
   * `limit` that match. The cursor returned is the ledger's newest row read at the start, so rows the filter skipped
   * are not read again; rows are numbered in the order their batches commit (migrations.ts, version 10), so none
   * recorded later can fall behind it.
   */
  async recentUsage({ filter, after, limit }: RecentUsageQuery): Promise<RecentUsagePage> {
    const most = Math.min(Math.max(limit, 1), RECENT_MOST);
    const { rows: heads } = await this.db.query<{ head: string | null }>('SELECT max(seq)::text AS head FROM usage_records');
    const head = Number(heads[0]?.head ?? 0);
    const where = filters(filter!);
    const n = where.params.length;
    const first = after === 0;
    const { rows } = await this.db.query<Record<string, unknown> & { seq: string }>(
      `SELECT seq::text AS seq, ${ROW_COLUMNS} FROM usage_records ${and(where, `seq > $${n + 1} AND seq <= $${n + 2}`)}
       ORDER BY seq ${first ? 'DESC' : ''} LIMIT ${most}`,
      [...where.params, after, head],
    );
    if (first) rows.reverse();
    // A read cut short by the limit goes on from its last row.
    const cursor = !first && rows.length === most ? Number(rows.at(-1)!.seq) : head;
    return { rowsJson: rows.map(({ seq: _seq, ...row }) => rowJson(row)), cursor };
  }
}
