import type { FastifyPluginAsync } from 'fastify';
import type { MeteringService, SpendQuery, SpendRow, ToolCallQuery, ToolCallRow } from '../gen/gateway/v1/metering.js';
import { scopedQuery } from '../kit/admin.js';
import { csvLine, download, formatOf, reportQuery, snake } from '../kit/admin-reports.js';
import type { Api } from '../kit/grpc.js';

type Query = Record<string, string | undefined>;

/** Rows of a first read of recent usage: what the console's live requests page keeps. */
const RECENT_DEFAULT = 200;

/** Columns added later come last, so a CSV reader's positions stay put. */
const SPEND_MEASURES = [
  'costUsd',
  'savedUsd',
  'requests',
  'promptTokens',
  'completionTokens',
  'cachedTokens',
  'unpricedRequests',
  'cacheHits',
  'cacheWriteTokens',
  'reasoningTokens',
  'inputCostUsd',
  'cacheReadCostUsd',
  'cacheWriteCostUsd',
  'outputCostUsd',
  'reasoningCostUsd',
  'unitsCostUsd',
] as const;

function spendQuery(q: Query): SpendQuery {
  return {
    from: q.from ?? '',
    to: q.to ?? '',
    groupBy: (q.group_by ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    keyId: q.key ?? '',
    teamId: q.team ?? '',
    customerId: q.customer ?? '',
    model: q.model ?? '',
    provider: q.provider ?? '',
    tag: q.tag ?? '',
  };
}

function toolCallQuery(q: Query): ToolCallQuery {
  const { from, to, groupBy, keyId, teamId, customerId } = spendQuery(q);
  return { from, to, groupBy, keyId, teamId, customerId, server: q.server ?? '' };
}

function toolCallJson(row: ToolCallRow) {
  return { ...row.group, calls: row.calls, failed: row.failed, result_bytes: row.resultBytes, duration_ms: row.durationMs };
}

function spendJson(row: SpendRow) {
  return { ...row.group, ...Object.fromEntries(SPEND_MEASURES.map((m) => [snake(m), row[m]])) };
}

/**
 * Spend for finance, on the admin API: grouped totals (exact), tool calls,
 * and the usage ledger's export. `metering` is the service itself, or its
 * gRPC client when it runs in another process.
 */
export const meteringAdminRoutes: FastifyPluginAsync<{ metering: Api<typeof MeteringService> }> = async (app, { metering }) => {
  const tags = ['spend'];

  app.get<{ Querystring: Query }>(
    '/admin/spend',
    {
      config: { requires: 'read' },
      schema: {
        querystring: reportQuery,
        tags,
        summary:
          'Spend and usage summed by group_by (key, team, customer, model, provider, tag, day, month); filters from, to, key, team, customer, model, provider, tag; format=csv',
      },
    },
    async (request, reply) => {
      const report = await metering.spend(scopedQuery(request.principal!, spendQuery(request.query)));
      if (request.query.format !== 'csv') return { data: report.rows.map(spendJson), total: spendJson(report.total!) };
      const dims = spendQuery(request.query).groupBy;
      const rows = [
        csvLine([...dims, ...SPEND_MEASURES.map(snake)]),
        ...report.rows.map((r) => csvLine([...dims.map((d) => r.group[d]), ...SPEND_MEASURES.map((m) => r[m])])),
      ];
      return download(reply, 'csv', 'spend', rows);
    },
  );

  app.get<{ Querystring: Query }>(
    '/admin/tool-calls',
    {
      config: { requires: 'read' },
      schema: {
        querystring: reportQuery,
        tags,
        summary:
          'MCP tool calls counted by group_by (key, team, customer, server, tool, outcome, surface, day, month); filters from, to, key, team, customer, server',
      },
    },
    async (request) => {
      const report = await metering.toolCalls(scopedQuery(request.principal!, toolCallQuery(request.query)));
      return { data: report.rows.map(toolCallJson), total: toolCallJson(report.total!) };
    },
  );

  app.get<{ Querystring: Query }>(
    '/admin/usage/recent',
    {
      config: { requires: 'read' },
      schema: {
        querystring: reportQuery,
        tags,
        summary:
          "The ledger's rows recorded since cursor (the previous answer's next_cursor), oldest recorded first; without cursor, the newest `limit` (default 200, ≤1000); filters as for /admin/spend",
      },
    },
    async (request) => {
      const page = await metering.recentUsage({
        filter: scopedQuery(request.principal!, spendQuery(request.query)),
        after: Number(request.query.cursor || 0),
        limit: Number(request.query.limit ?? RECENT_DEFAULT),
      });
      return { data: page.rowsJson.map((json) => JSON.parse(json) as unknown), next_cursor: String(page.cursor) };
    },
  );

  app.get<{ Querystring: Query }>(
    '/admin/usage/export',
    {
      config: { requires: 'read' },
      schema: { querystring: reportQuery, tags, summary: "The usage ledger's rows as NDJSON or CSV (format=csv); filters as for /admin/spend" },
    },
    async (request, reply) => {
      const format = formatOf(request.query);
      const pages = metering.exportUsage(scopedQuery(request.principal!, spendQuery(request.query)));
      async function* lines() {
        let header: string[] | undefined;
        for await (const page of pages) {
          for (const json of page.rowsJson) {
            const row = JSON.parse(json) as Record<string, unknown>;
            if (format === 'ndjson') {
              yield `${json}\n`;
              continue;
            }
            if (!header) {
              header = Object.keys(row);
              yield csvLine(header);
            }
            yield csvLine(header.map((h) => row[h]));
          }
        }
      }
      return download(reply, format, 'usage', lines());
    },
  );
};
