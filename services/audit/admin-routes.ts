import type { FastifyPluginAsync } from 'fastify';
import type { AuditQuery, AuditRecord, AuditService } from '../gen/gateway/v1/audit.js';
import { scopedQuery } from '../kit/admin.js';
import { csvLine, download, formatOf, reportQuery, snake } from '../kit/admin-reports.js';
import type { Api } from '../kit/grpc.js';

type Query = Record<string, string | undefined>;

const COLUMNS = [
  'seq',
  'eventId',
  'eventType',
  'occurredAt',
  'requestId',
  'traceId',
  'service',
  'sourceAddress',
  'actorKeyId',
  'actorTeamId',
  'actorCustomerId',
  'actorAdmin',
  'payloadJson',
  'prevHash',
  'hash',
] as const;

const FILTERS = 'from, to (RFC 3339), actor, key, team, customer, model, outcome (completed|failed|rejected|<status>), type (request.*, admin.>), request_id';

function auditQuery(q: Query): AuditQuery {
  return {
    from: q.from ?? '',
    to: q.to ?? '',
    actor: q.actor ?? '',
    keyId: q.key ?? '',
    teamId: q.team ?? '',
    customerId: q.customer ?? '',
    model: q.model ?? '',
    outcome: q.outcome ?? '',
    eventType: q.type ?? '',
    requestId: q.request_id ?? '',
    cursor: q.cursor ?? '',
    limit: Number(q.limit ?? 100),
  };
}

function auditJson(r: AuditRecord) {
  return { ...Object.fromEntries(COLUMNS.filter((c) => c !== 'payloadJson').map((c) => [snake(c), r[c]])), payload: JSON.parse(r.payloadJson) as unknown };
}

/**
 * The audit log for auditors, on the admin API: filter, page, export as
 * NDJSON or CSV, and the signed head. `audit` is the service itself, or its
 * gRPC client when it runs in another process.
 */
export const auditAdminRoutes: FastifyPluginAsync<{ audit: Api<typeof AuditService> }> = async (app, { audit }) => {
  const tags = ['audit'];

  app.get<{ Querystring: Query }>(
    '/admin/audit/events',
    {
      config: { requires: 'audit' },
      schema: { querystring: reportQuery, tags, summary: `Audit records, oldest first: filters ${FILTERS}; cursor, limit (≤1000)` },
    },
    async (request) => {
      const page = await audit.query(scopedQuery(request.principal!, auditQuery(request.query)));
      return { data: page.records.map(auditJson), next_cursor: page.nextCursor || null };
    },
  );

  app.get<{ Querystring: Query }>(
    '/admin/audit/export',
    {
      config: { requires: 'audit' },
      schema: { querystring: reportQuery, tags, summary: `Every matching audit record as NDJSON or CSV (format=csv): filters ${FILTERS}` },
    },
    async (request, reply) => {
      const format = formatOf(request.query);
      const pages = audit.export(scopedQuery(request.principal!, auditQuery(request.query)));
      async function* lines() {
        if (format === 'csv') yield csvLine(COLUMNS.map(snake));
        for await (const page of pages) {
          for (const r of page.records) yield format === 'csv' ? csvLine(COLUMNS.map((c) => r[c])) : `${JSON.stringify(auditJson(r))}\n`;
        }
      }
      return download(reply, format, 'audit', lines());
    },
  );

  app.get(
    '/admin/audit/head',
    { config: { requires: 'audit' }, schema: { tags, summary: "The audit chain's head (position and hash), signed when audit.signingKey is set" } },
    async () => JSON.parse((await audit.head({})).json) as unknown,
  );

  app.post<{ Body: { value: string } }>(
    '/admin/audit/hash',
    {
      config: { requires: 'audit' },
      schema: {
        tags,
        summary: 'A value as storage policies hash it (guardrails.storage), to find the records that keep its hash',
        body: { type: 'object', required: ['value'], additionalProperties: false, properties: { value: { type: 'string', maxLength: 65_536 } } },
      },
    },
    async (request) => ({ hash: (await audit.hashValue({ value: request.body.value })).hash }),
  );

  app.post(
    '/admin/audit/verify',
    {
      config: { requires: 'audit' },
      schema: {
        tags,
        summary: 'Walks the whole audit log and checks its hash chain against the checkpoints kept outside the database, as `gateway audit verify` does',
      },
    },
    async () => JSON.parse((await audit.verify({})).json) as unknown,
  );
};
