import type { LegalHoldsResponse, RetentionState, SetLegalHoldRequest, SetRetentionRequest, Tenant } from '../gen/gateway/v1/audit.js';
import type { Database } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';
import { CONTENT_CLASSES, type ContentClass } from './content.js';

const MAX_DAYS = 36_500;

/**
 * What a team or customer may keep for its own time: the content classes (kept here, audit_content), and spend, the
 * usage ledger's rows, which metering files by the retention this service answers it (docs/retention.md).
 */
export const RETENTION_CLASSES = [...CONTENT_CLASSES, 'spend'] as const;
export type RetentionClass = (typeof RETENTION_CLASSES)[number];

export interface TenantRetention {
  scope: string;
  id: string;
  retention: Partial<Record<RetentionClass, number>>;
  hold: { reason: string; placed_by: string; placed_at: string } | null;
}

function tenantOf(tenant: Tenant | undefined): Tenant {
  if (!tenant || (tenant.scope !== 'team' && tenant.scope !== 'customer'))
    throw new GatewayError('invalid_request', 'A retention applies to a team or a customer.');
  if (!tenant.id || tenant.id.length > 200) throw new GatewayError('invalid_request', 'Name the team or customer (1-200 characters).');
  return tenant;
}

/**
 * Teams' and customers' retention of each content class, and legal holds: kept in the audit database, where the
 * owner's audit_keep_content and audit_expire_content read them (content-schema.ts). Changed as the maintainer; the
 * admin API records each change as an admin event.
 */
export class RetentionAdmin {
  constructor(
    private readonly db: Database,
    private readonly defaults: Record<ContentClass, number>,
  ) {}

  /** The defaults and every team and customer with a retention or a hold of its own (or the one asked for). */
  async tenants(only?: Tenant): Promise<{ defaults: Record<ContentClass, number>; tenants: TenantRetention[] }> {
    const { rows } = await this.db.query<{ scope: string; id: string; retention: TenantRetention['retention'] | null; hold: TenantRetention['hold'] }>(
      `WITH tenants AS (SELECT scope, scope_id FROM retention_settings UNION SELECT scope, scope_id FROM legal_holds)
       SELECT t.scope, t.scope_id AS id,
              (SELECT jsonb_object_agg(s.data_class, s.days) FROM retention_settings s WHERE s.scope = t.scope AND s.scope_id = t.scope_id) AS retention,
              (SELECT jsonb_build_object('reason', h.reason, 'placed_by', h.placed_by, 'placed_at', h.placed_at)
                 FROM legal_holds h WHERE h.scope = t.scope AND h.scope_id = t.scope_id) AS hold
         FROM tenants t WHERE $1::text IS NULL OR (t.scope = $1 AND t.scope_id = $2) ORDER BY 1, 2`,
      [only?.scope ?? null, only?.id ?? null],
    );
    return { defaults: this.defaults, tenants: rows.map((r) => ({ ...r, retention: r.retention ?? {} })) };
  }

  /** For metering: the teams and customers held (it keeps its ledgers' months and rollups while any is), and their spend retention. */
  async legalHolds(): Promise<LegalHoldsResponse> {
    const { rows: held } = await this.db.query<Tenant>('SELECT scope, scope_id AS id FROM legal_holds ORDER BY 1, 2');
    const { rows: spend } = await this.db.query<{ scope: string; id: string; days: number }>(
      "SELECT scope, scope_id AS id, days FROM retention_settings WHERE data_class = 'spend' ORDER BY 1, 2",
    );
    return { held, spendRetention: spend.map(({ scope, id, days }) => ({ tenant: { scope, id }, days })) };
  }

  async retention(): Promise<RetentionState> {
    return { json: JSON.stringify(await this.tenants()) };
  }

  async setRetention(request: SetRetentionRequest): Promise<RetentionState> {
    const tenant = tenantOf(request.tenant);
    for (const c of request.classes) {
      if (!RETENTION_CLASSES.includes(c.dataClass as RetentionClass))
        throw new GatewayError('invalid_request', `No retention class ${c.dataClass}: one of ${RETENTION_CLASSES.join(', ')}.`);
      if (c.days !== undefined && (!Number.isInteger(c.days) || c.days < 0 || c.days > MAX_DAYS))
        throw new GatewayError('invalid_request', `Retention days are a whole number from 0 (kept) to ${MAX_DAYS}.`);
    }
    await this.db.transaction(async (tx) => {
      for (const c of request.classes) {
        if (c.days === undefined)
          await tx.query('DELETE FROM retention_settings WHERE scope = $1 AND scope_id = $2 AND data_class = $3', [tenant.scope, tenant.id, c.dataClass]);
        else
          await tx.query(
            `INSERT INTO retention_settings (scope, scope_id, data_class, days) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, scope_id, data_class) DO UPDATE SET days = excluded.days`,
            [tenant.scope, tenant.id, c.dataClass, c.days],
          );
      }
    });
    return { json: JSON.stringify(await this.tenants(tenant)) };
  }

  async setLegalHold(request: SetLegalHoldRequest): Promise<RetentionState> {
    const tenant = tenantOf(request.tenant);
    if (request.held) {
      if (!request.reason.trim() || request.reason.length > 1_000) throw new GatewayError('invalid_request', 'Say why the hold is placed (1-1000 characters).');
      await this.db.query(
        `INSERT INTO legal_holds (scope, scope_id, reason, placed_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, scope_id) DO UPDATE SET reason = excluded.reason`,
        [tenant.scope, tenant.id, request.reason, request.placedBy],
      );
    } else {
      const { rowCount } = await this.db.query('DELETE FROM legal_holds WHERE scope = $1 AND scope_id = $2', [tenant.scope, tenant.id]);
      if (!rowCount) throw new GatewayError('not_found', `No legal hold on ${tenant.scope} ${tenant.id}.`);
    }
    return { json: JSON.stringify(await this.tenants(tenant)) };
  }
}
