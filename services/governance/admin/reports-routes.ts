import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuditQuery, AuditRecord } from '../../gen/gateway/v1/audit.js';
import type { SpendQuery, SpendRow, ToolCallQuery, ToolCallRow } from '../../gen/gateway/v1/metering.js';
import { GatewayError } from '../../kit/errors.js';
import type { Clients } from '../../kit/service.js';
import { csvLine } from './csv.js';
import { caller, type Principal } from './principals.js';

type Query = Record<string, string | undefined>;

const AUDIT_COLUMNS = ['seq', 'eventId', 'eventType', 'occurredAt', 'requestId', 'traceId', 'service', 'sourceAddress', 'actorKeyId', 'actorTeamId', 'actorCustomerId', 'actorAdmin', 'payloadJson', 'prevHash', 'hash'] as const;
/** Columns added later come last, so a CSV reader's positions stay put. */
const SPEND_MEASURES = [
  'costUsd', 'savedUsd', 'requests', 'promptTokens', 'completionTokens', 'cachedTokens', 'unpricedRequests', 'cacheHits',
  'cacheWriteTokens', 'reasoningTokens', 'inputCostUsd', 'cacheReadCostUsd', 'cacheWriteCostUsd', 'outputCostUsd', 'reasoningCostUsd',
] as const;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const principal = caller;

const dateTime = { type: 'string', format: 'date-time' } as const;
/** The filters and paging every report takes, checked before any query runs. */
const reportQuery = {
  type: 'object',
  properties: {
    from: dateTime,
    to: dateTime,
    limit: { type: 'integer', minimum: 1, maximum: 1_000 },
    cursor: { type: 'string', pattern: '^[0-9]{0,19}$' },
    format: { enum: ['ndjson', 'csv'] },
  },
} as const;

/** A token scoped to a team or customer only ever reads that team's or customer's records. */
function scoped<T extends { teamId: string; customerId: string }>(who: Principal, query: T): T {
  if (who.team && query.teamId && query.teamId !== who.team) throw new GatewayError('admin_forbidden', `This token may only read team ${who.team}.`);
  if (who.customer && query.customerId && query.customerId !== who.customer) throw new GatewayError('admin_forbidden', `This token may only read customer ${who.customer}.`);
  return { ...query, teamId: who.team ?? query.teamId, customerId: who.customer ?? query.customerId };
}

function auditQuery(q: Query): AuditQuery {
  return {
    from: q.from ?? '', to: q.to ?? '', actor: q.actor ?? '', keyId: q.key ?? '', teamId: q.team ?? '', customerId: q.customer ?? '',
    model: q.model ?? '', outcome: q.outcome ?? '', eventType: q.type ?? '', requestId: q.request_id ?? '', cursor: q.cursor ?? '', limit: Number(q.limit ?? 100),
  };
}

function spendQuery(q: Query): SpendQuery {
  return {
    from: q.from ?? '', to: q.to ?? '', groupBy: (q.group_by ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    keyId: q.key ?? '', teamId: q.team ?? '', customerId: q.customer ?? '', model: q.model ?? '', provider: q.provider ?? '',
  };
}

function toolCallQuery(q: Query): ToolCallQuery {
  const { from, to, groupBy, keyId, teamId, customerId } = spendQuery(q);
  return { from, to, groupBy, keyId, teamId, customerId, server: q.server ?? '' };
}

function toolCallJson(row: ToolCallRow) {
  return { ...row.group, calls: row.calls, failed: row.failed, result_bytes: row.resultBytes, duration_ms: row.durationMs };
}

function auditJson(r: AuditRecord) {
  return { ...Object.fromEntries(AUDIT_COLUMNS.filter((c) => c !== 'payloadJson').map((c) => [snake(c), r[c]])), payload: JSON.parse(r.payloadJson) as unknown };
}

function spendJson(row: SpendRow) {
  return { ...row.group, ...Object.fromEntries(SPEND_MEASURES.map((m) => [snake(m), row[m]])) };
}

/** Streams `lines` as a download in the requested format. */
function download(reply: FastifyReply, format: string, name: string, lines: AsyncIterable<string>): FastifyReply {
  const csv = format === 'csv';
  return reply
    .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
    .header('content-disposition', `attachment; filename="${name}.${csv ? 'csv' : 'ndjson'}"`)
    .send(Readable.from(lines));
}

function formatOf(q: Query): 'csv' | 'ndjson' {
  const format = q.format ?? 'ndjson';
  if (format !== 'csv' && format !== 'ndjson') throw new GatewayError('invalid_request', 'format must be ndjson or csv.', { param: 'format' });
  return format;
}

/**
 * The audit log for auditors (filter, page, export as NDJSON or CSV, signed
 * head) and spend for finance (grouped totals, exact; ledger export), served
 * from the audit and metering services.
 */
export function registerReportRoutes(app: FastifyInstance, clients: Clients): void {
  const filters = 'from, to (RFC 3339), actor, key, team, customer, model, outcome (completed|failed|rejected|<status>), type (request.*, admin.>), request_id';

  app.get<{ Querystring: Query }>('/admin/audit/events', { schema: { querystring: reportQuery, tags: ['audit'], summary: `Audit records, oldest first: filters ${filters}; cursor, limit (≤1000)` } }, async (request) => {
    const who = principal(request, 'audit');
    const page = await clients.audit.query(scoped(who, auditQuery(request.query)));
    return { data: page.records.map(auditJson), next_cursor: page.nextCursor || null };
  });

  app.get<{ Querystring: Query }>('/admin/audit/export', { schema: { querystring: reportQuery, tags: ['audit'], summary: `Every matching audit record as NDJSON or CSV (format=csv): filters ${filters}` } }, async (request, reply) => {
    const who = principal(request, 'audit');
    const format = formatOf(request.query);
    const pages = clients.audit.export(scoped(who, auditQuery(request.query)));
    async function* lines() {
      if (format === 'csv') yield csvLine(AUDIT_COLUMNS.map(snake));
      for await (const page of pages) {
        for (const r of page.records) yield format === 'csv' ? csvLine(AUDIT_COLUMNS.map((c) => r[c])) : `${JSON.stringify(auditJson(r))}\n`;
      }
    }
    return download(reply, format, 'audit', lines());
  });

  app.get('/admin/audit/head', { schema: { tags: ['audit'], summary: 'The audit chain\'s head (position and hash), signed when audit.signingKey is set' } }, async (request) => {
    principal(request, 'audit');
    return JSON.parse((await clients.audit.head({})).json) as unknown;
  });

  app.get<{ Querystring: Query }>('/admin/spend', {
    schema: { querystring: reportQuery, tags: ['spend'], summary: 'Spend and usage summed by group_by (key, team, customer, model, provider, day, month); filters from, to, key, team, customer, model, provider; format=csv' },
  }, async (request, reply) => {
    const who = principal(request, 'read');
    const report = await clients.metering.spend(scoped(who, spendQuery(request.query)));
    if (request.query.format !== 'csv') return { data: report.rows.map(spendJson), total: spendJson(report.total!) };
    const dims = spendQuery(request.query).groupBy;
    const rows = [csvLine([...dims, ...SPEND_MEASURES.map(snake)]), ...report.rows.map((r) => csvLine([...dims.map((d) => r.group[d]), ...SPEND_MEASURES.map((m) => r[m])]))];
    return download(reply, 'csv', 'spend', Readable.from(rows));
  });

  app.get<{ Querystring: Query }>('/admin/tool-calls', {
    schema: { querystring: reportQuery, tags: ['spend'], summary: 'MCP tool calls counted by group_by (key, team, customer, server, tool, outcome, surface, day, month); filters from, to, key, team, customer, server' },
  }, async (request) => {
    const who = principal(request, 'read');
    const report = await clients.metering.toolCalls(scoped(who, toolCallQuery(request.query)));
    return { data: report.rows.map(toolCallJson), total: toolCallJson(report.total!) };
  });

  app.get<{ Querystring: Query }>('/admin/usage/export', { schema: { querystring: reportQuery, tags: ['spend'], summary: 'The usage ledger\'s rows as NDJSON or CSV (format=csv); filters as for /admin/spend' } }, async (request, reply) => {
    const who = principal(request, 'read');
    const format = formatOf(request.query);
    const pages = clients.metering.exportUsage(scoped(who, spendQuery(request.query)));
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
  });
}
