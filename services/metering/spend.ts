import type { SpendQuery, SpendReport, SpendRow, UsagePage } from '../gen/gateway/v1/metering.js';
import type { Database } from '../kit/db/types.js';
import { groupedTotals, TIME_DIMENSIONS, whereOf, type Where } from './grouped.js';

/** Dimensions spend can be grouped by, and the ledger expression of each. */
const DIMENSIONS: Record<string, string> = {
  key: 'key_id',
  team: 'team_id',
  customer: 'customer_id',
  model: 'model',
  provider: 'provider',
  ...TIME_DIMENSIONS,
};

/** Sums in SQL over NUMERIC, returned as text: totals are exact, to the ledger's last decimal. */
const MEASURES = `COALESCE(SUM(cost_usd), 0)::text AS cost_usd, COALESCE(SUM(saved_usd), 0)::text AS saved_usd, count(*) AS requests,
  COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
  COALESCE(SUM(cached_tokens), 0) AS cached_tokens, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_requests,
  count(*) FILTER (WHERE cache_hit) AS cache_hits`;

const EXPORT_PAGE = 1_000;

function filters(query: SpendQuery): Where {
  return whereOf(query, [['key_id', query.keyId], ['team_id', query.teamId], ['customer_id', query.customerId], ['model', query.model], ['provider', query.provider]]);
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
    unpricedRequests: Number(row.unpriced_requests),
    cacheHits: Number(row.cache_hits),
  };
}

/** Spend and usage from the ledger, for finance: grouped, filtered, exact. */
export class SpendReader {
  constructor(private readonly db: Database) {}

  async spend(query: SpendQuery): Promise<SpendReport> {
    const { dims, rows, total } = await groupedTotals(this.db, { table: 'usage_records', dimensions: DIMENSIONS, measures: MEASURES, groupBy: query.groupBy, where: filters(query) });
    return { rows: rows.map((r) => toRow(r, dims)), total: toRow(total, []) };
  }

  async *exportUsage(query: SpendQuery): AsyncGenerator<UsagePage> {
    const { sql, params } = filters(query);
    let after: { at: string; id: string } | undefined;
    for (;;) {
      const keyset = after ? `${sql ? `${sql} AND` : 'WHERE'} (occurred_at, request_id) > ($${params.length + 1}, $${params.length + 2})` : sql;
      const { rows } = await this.db.query<Record<string, unknown>>(
        `SELECT request_id, occurred_at, outcome, key_id, team_id, customer_id, endpoint, model, provider, provider_model, deployment,
           prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cache_write_tokens, cost_usd::text AS cost_usd,
           saved_usd::text AS saved_usd, cache_hit, stream, http_status, duration_ms
         FROM usage_records ${keyset} ORDER BY occurred_at, request_id LIMIT ${EXPORT_PAGE}`,
        after ? [...params, after.at, after.id] : params,
      );
      if (rows.length === 0) return;
      yield { rowsJson: rows.map((r) => JSON.stringify({ ...r, occurred_at: new Date(r.occurred_at as string).toISOString() })) };
      const last = rows.at(-1)!;
      after = { at: new Date(last.occurred_at as string).toISOString(), id: String(last.request_id) };
      if (rows.length < EXPORT_PAGE) return;
    }
  }
}
