import type { FastifyPluginAsync } from 'fastify';
import type { AuditService, Tenant } from '../gen/gateway/v1/audit.js';
import type { RecordChange } from '../kit/admin.js';
import { GatewayError } from '../kit/errors.js';
import type { Api } from '../kit/grpc.js';
import { RETENTION_CLASSES, type TenantRetention } from './retention-admin.js';

type State = { defaults: Record<string, number>; tenants: TenantRetention[] };
type Params = { scope: 'teams' | 'customers'; id: string };

const params = {
  type: 'object',
  required: ['scope', 'id'],
  properties: { scope: { type: 'string', enum: ['teams', 'customers'] }, id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const tenantOf = (p: Params): Tenant => ({ scope: p.scope === 'teams' ? 'team' : 'customer', id: p.id });
const blank = (t: Tenant): TenantRetention => ({ scope: t.scope, id: t.id, retention: {}, hold: null });
/** The tenant as the state after a change shows it; one with no setting or hold left is not listed there. */
const entryOf = (json: string, t: Tenant): TenantRetention => (JSON.parse(json) as State).tenants[0] ?? blank(t);

/**
 * Retention of content and spend per team and customer, and legal holds (docs/retention.md): set by an unscoped owner or admin
 * (`manage_retention`), read by them and the auditor (`read_retention`), never by a scoped token; every change recorded as an admin event.
 */
export const retentionAdminRoutes: FastifyPluginAsync<{ audit: Api<typeof AuditService>; record: RecordChange }> = async (app, { audit, record }) => {
  const tags = ['retention'];
  const current = async (t: Tenant) =>
    (JSON.parse((await audit.retention({})).json) as State).tenants.find((e) => e.scope === t.scope && e.id === t.id) ?? blank(t);

  app.get(
    '/admin/retention',
    {
      config: { requires: 'read_retention' },
      schema: { tags, summary: "Each content class's default retention, and every team and customer with its own retention or a legal hold" },
    },
    async () => JSON.parse((await audit.retention({})).json) as unknown,
  );

  app.put<{ Params: Params; Body: Record<string, number | null> }>(
    '/admin/retention/:scope/:id',
    {
      config: { requires: 'manage_retention' },
      schema: {
        tags,
        summary: "Sets a team's or customer's retention of each class given, in days (0: kept forever; null: the default again)",
        params,
        body: {
          type: 'object',
          minProperties: 1,
          additionalProperties: false,
          properties: Object.fromEntries(RETENTION_CLASSES.map((c) => [c, { type: ['integer', 'null'], minimum: 0, maximum: 36_500 }])),
        },
      },
    },
    async (request) => {
      // Unknown properties are removed by validation: a body left without a class named none the gateway knows.
      if (Object.keys(request.body).length === 0)
        throw new GatewayError('invalid_request', `Give the retention of one or more classes: ${RETENTION_CLASSES.join(', ')}.`);
      const tenant = tenantOf(request.params);
      const before = await current(tenant);
      const classes = Object.entries(request.body).map(([dataClass, days]) => ({ dataClass, days: days ?? undefined }));
      const after = entryOf((await audit.setRetention({ tenant, classes })).json, tenant);
      record(request.principal!, 'retention', 'update', `${tenant.scope}:${tenant.id}`, before.retention, after.retention);
      return after;
    },
  );

  app.put<{ Params: Params; Body: { reason: string } }>(
    '/admin/legal-holds/:scope/:id',
    {
      config: { requires: 'manage_retention' },
      schema: {
        tags,
        summary: 'Places a legal hold on a team or customer: nothing of it expires until the hold is lifted',
        params,
        body: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 1_000 } } },
      },
    },
    async (request) => {
      const tenant = tenantOf(request.params);
      const who = request.principal!;
      const before = await current(tenant);
      const after = entryOf(
        (await audit.setLegalHold({ tenant, held: true, reason: request.body.reason, placedBy: `${who.name} (${who.role})` })).json,
        tenant,
      );
      record(who, 'legal_hold', before.hold ? 'update' : 'place', `${tenant.scope}:${tenant.id}`, before.hold ?? undefined, after.hold ?? undefined);
      return after;
    },
  );

  app.delete<{ Params: Params }>(
    '/admin/legal-holds/:scope/:id',
    {
      config: { requires: 'manage_retention' },
      schema: { tags, summary: "Lifts a team's or customer's legal hold: its content past retention goes at the next expiry run", params },
    },
    async (request) => {
      const tenant = tenantOf(request.params);
      const before = await current(tenant);
      const after = entryOf((await audit.setLegalHold({ tenant, held: false, reason: '', placedBy: '' })).json, tenant);
      record(request.principal!, 'legal_hold', 'lift', `${tenant.scope}:${tenant.id}`, before.hold ?? undefined, undefined);
      return after;
    },
  );
};
