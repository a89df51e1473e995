import {
  Event,
  type RequestOutcome,
  type AdminChange,
  type AuditArchived,
  type AuditChainKeyed,
  type AuditCheckpoint,
  type AuthFailure,
  type ContentExpired,
  type LedgerExpired,
} from '../gen/gateway/v1/events.js';
import type { Actor, Attempt, RequestContext } from '../gen/gateway/v1/common.js';
import type { CodeRun, ToolCall } from '../gen/gateway/v1/mcp.js';
import { uuidv7 } from './ids.js';

export { Event };

/** Version of the event schema in proto/gateway/v1/events.proto. */
export const EVENT_SCHEMA_VERSION = 1;

/** Every event type the gateway emits; the subject is `<prefix>.events.<type>`. */
export const EventType = {
  requestReceived: 'request.received',
  requestCompleted: 'request.completed',
  requestFailed: 'request.failed',
  requestRejected: 'request.rejected',
  upstreamAttempt: 'upstream.attempt',
  authFailed: 'auth.failed',
  toolCalled: 'tool.called',
  codeExecuted: 'code.executed',
  auditArchived: 'audit.archived',
  auditChainKeyed: 'audit.chain_keyed',
  auditCheckpoint: 'audit.checkpoint',
  auditContentExpired: 'audit.content_expired',
  ledgerExpired: 'ledger.expired',
} as const;

/** Admin changes are `admin.<resource>.<action>`, e.g. admin.virtual_key.rotate. */
export type EventTypeName = (typeof EventType)[keyof typeof EventType] | `admin.${string}`;

interface EventFields {
  service: string;
  context?: RequestContext;
  actor?: Actor;
  /** The storage policies that decided what the event keeps of its content. */
  storagePolicies?: readonly string[];
}

function envelope(type: EventTypeName, fields: EventFields): Event {
  const now = Date.now();
  return {
    id: uuidv7(now),
    type,
    time: new Date(now),
    requestId: fields.context?.requestId ?? '',
    traceId: fields.context?.traceId ?? '',
    actor: fields.actor ?? fields.context?.actor,
    service: fields.service,
    sourceAddress: fields.context?.sourceAddress ?? '',
    schemaVersion: EVENT_SCHEMA_VERSION,
    storagePolicies: [...(fields.storagePolicies ?? [])],
    payload: undefined,
  };
}

/**
 * A request's outcome as its emitter knows it: only ingress, which answers, says what its record had
 * (recordGuarantee), what the guardrails that routing ran did, and the client's tags.
 */
type Optional = 'recordGuarantee' | 'guardrails' | 'tags';
export type OutcomeFields = Omit<RequestOutcome, Optional> & Partial<Pick<RequestOutcome, Optional>>;

export function requestEvent(type: EventTypeName, fields: EventFields, outcome: OutcomeFields): Event {
  // Ingress, on every request, says all three: no copy then.
  const request =
    outcome.recordGuarantee === undefined || outcome.guardrails === undefined || outcome.tags === undefined
      ? { ...outcome, recordGuarantee: outcome.recordGuarantee ?? '', guardrails: outcome.guardrails ?? [], tags: outcome.tags ?? [] }
      : (outcome as RequestOutcome);
  return { ...envelope(type, fields), payload: { $case: 'request', request } };
}

export function attemptEvent(fields: EventFields, attempt: Attempt): Event {
  return { ...envelope(EventType.upstreamAttempt, fields), payload: { $case: 'attempt', attempt } };
}

export function authFailedEvent(fields: EventFields, failure: AuthFailure): Event {
  return { ...envelope(EventType.authFailed, fields), payload: { $case: 'auth', auth: failure } };
}

export function archivedEvent(fields: EventFields, archived: AuditArchived): Event {
  return { ...envelope(EventType.auditArchived, fields), payload: { $case: 'archived', archived } };
}

export function contentExpiredEvent(fields: EventFields, expired: ContentExpired): Event {
  return { ...envelope(EventType.auditContentExpired, fields), payload: { $case: 'contentExpired', contentExpired: expired } };
}

export function ledgerExpiredEvent(fields: EventFields, expired: LedgerExpired): Event {
  return { ...envelope(EventType.ledgerExpired, fields), payload: { $case: 'ledgerExpired', ledgerExpired: expired } };
}

export function chainKeyedEvent(fields: EventFields, keyed: AuditChainKeyed): Event {
  return { ...envelope(EventType.auditChainKeyed, fields), payload: { $case: 'chainKeyed', chainKeyed: keyed } };
}

export function checkpointEvent(fields: EventFields, at: Date, checkpoint: AuditCheckpoint): Event {
  return { ...envelope(EventType.auditCheckpoint, fields), time: at, payload: { $case: 'checkpoint', checkpoint } };
}

export function toolCalledEvent(fields: EventFields, call: ToolCall): Event {
  return { ...envelope(EventType.toolCalled, fields), payload: { $case: 'tool', tool: call } };
}

export function codeExecutedEvent(fields: EventFields, run: CodeRun): Event {
  return { ...envelope(EventType.codeExecuted, fields), payload: { $case: 'codeRun', codeRun: run } };
}

export function adminEvent(type: EventTypeName, fields: EventFields, change: AdminChange): Event {
  return { ...envelope(type, fields), payload: { $case: 'admin', admin: change } };
}

export function encodeEvent(event: Event): Uint8Array {
  return Event.encode(event).finish();
}

export function decodeEvent(data: Uint8Array): Event {
  return Event.decode(data);
}
