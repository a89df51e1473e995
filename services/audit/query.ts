import type {
  AuditHead,
  AuditPage,
  AuditQuery,
  AuditRecord,
  AuditService,
  HashValueRequest,
  HashValueResponse,
  VerifyResponse,
} from '../gen/gateway/v1/audit.js';
import type { Database } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';
import { hashedValue } from '../kit/guardrails/index.js';
import type { Api } from '../kit/grpc.js';
import type { Secret } from '../kit/secrets/store.js';
import { CONTENT_OF_ROW, withContent } from './content.js';
import { signedHead, type Verdict } from './verify.js';

const MAX_PAGE = 1_000;
const EXPORT_PAGE = 1_000;

/** A NATS-style type pattern (request.*, admin.>) as an anchored regular expression. */
function typeRegex(pattern: string): string {
  return `^${pattern
    .split('.')
    .map((token) => (token === '*' ? '[^.]+' : token === '>' ? '.+' : token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('\\.')}$`;
}

function instant(value: string, field: string): string {
  if (Number.isNaN(Date.parse(value)))
    throw new GatewayError('invalid_request', `${field} must be an RFC 3339 time, e.g. 2026-11-01T00:00:00Z.`, { param: field });
  return value;
}

/** WHERE clause and parameters for a query; seq > cursor keeps paging stable while rows are appended. */
function where(query: AuditQuery): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const conditions: string[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replaceAll('?', `$${params.length}`));
  };
  if (query.cursor) add('seq > ?', Number(query.cursor) || 0);
  if (query.from) add('occurred_at >= ?', instant(query.from, 'from'));
  if (query.to) add('occurred_at < ?', instant(query.to, 'to'));
  if (query.actor) add('(actor_admin = ? OR actor_key_id = ?)', query.actor);
  if (query.keyId) add('actor_key_id = ?', query.keyId);
  if (query.teamId) add('actor_team_id = ?', query.teamId);
  if (query.customerId) add('actor_customer_id = ?', query.customerId);
  if (query.requestId) add('request_id = ?', query.requestId);
  if (query.model) add("payload->'request'->>'model' = ?", query.model);
  if (query.eventType) add('event_type ~ ?', typeRegex(query.eventType));
  if (query.outcome) {
    if (/^\d{3}$/.test(query.outcome)) add("payload->'request'->>'httpStatus' = ?", query.outcome);
    else add('event_type = ?', `request.${query.outcome}`);
  }
  return { sql: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', params };
}

function record(row: Record<string, unknown>): AuditRecord {
  return {
    seq: Number(row.seq),
    eventId: String(row.event_id),
    eventType: String(row.event_type),
    occurredAt: new Date(row.occurred_at as string).toISOString(),
    requestId: String(row.request_id),
    traceId: String(row.trace_id),
    service: String(row.service),
    sourceAddress: String(row.source_address),
    actorKeyId: String(row.actor_key_id),
    actorTeamId: String(row.actor_team_id),
    actorCustomerId: String(row.actor_customer_id),
    actorAdmin: String(row.actor_admin),
    payloadJson: JSON.stringify(withContent(row.payload as Record<string, unknown>, row.content as Record<string, unknown> | null)),
    prevHash: String(row.prev_hash ?? ''),
    hash: String(row.hash ?? ''),
  };
}

/** Auditors' reads of the audit log: filtered pages, full exports, and the signed chain head. */
export class AuditReader implements Omit<Api<typeof AuditService>, 'retention' | 'setRetention' | 'setLegalHold' | 'legalHolds'> {
  constructor(
    private readonly db: Database,
    private readonly signingKey: Secret | undefined,
    private readonly storageHashKey: Secret | undefined,
    private readonly verifier: () => Promise<Verdict>,
  ) {}

  private verifying: Promise<Verdict> | undefined;

  /** One walk of the log at a time: a call made while one runs gets its verdict. */
  async verify(): Promise<VerifyResponse> {
    this.verifying ??= this.verifier().finally(() => {
      this.verifying = undefined;
    });
    return { json: JSON.stringify(await this.verifying) };
  }

  async hashValue(request: HashValueRequest): Promise<HashValueResponse> {
    if (!this.storageHashKey) throw new GatewayError('invalid_request', 'No storage policy hashes values here: guardrails.storage.hashKey is not set.');
    return { hash: hashedValue(this.storageHashKey, request.value) };
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const limit = Math.min(Math.max(query.limit || 100, 1), MAX_PAGE);
    const { sql, params } = where(query);
    const { rows } = await this.db.query<Record<string, unknown>>(
      `SELECT e.*, ${CONTENT_OF_ROW} AS content FROM (SELECT * FROM audit_events ${sql} ORDER BY seq LIMIT ${limit + 1}) e ORDER BY seq`,
      params,
    );
    const records = rows.slice(0, limit).map(record);
    return { records, nextCursor: rows.length > limit ? String(records.at(-1)!.seq) : '' };
  }

  async *export(query: AuditQuery): AsyncGenerator<AuditPage> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.query({ ...query, cursor, limit: EXPORT_PAGE });
      if (page.records.length > 0) yield { records: page.records, nextCursor: '' };
      if (!page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }

  async head(): Promise<AuditHead> {
    return { json: JSON.stringify(await signedHead(this.db, this.signingKey?.value || undefined)) };
  }
}
