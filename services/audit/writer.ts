import { Attempt } from '../gen/gateway/v1/common.js';
import { AdminChange, AuthFailure, RequestOutcome } from '../gen/gateway/v1/events.js';
import type { Queryable } from '../kit/db/types.js';
import type { Event } from '../kit/events.js';

function payloadJson(event: Event): string {
  switch (event.payload?.$case) {
    case 'request':
      return JSON.stringify({ request: RequestOutcome.toJSON(event.payload.request) });
    case 'admin':
      return JSON.stringify({ admin: AdminChange.toJSON(event.payload.admin) });
    case 'attempt':
      return JSON.stringify({ attempt: Attempt.toJSON(event.payload.attempt) });
    case 'auth':
      return JSON.stringify({ auth: AuthFailure.toJSON(event.payload.auth) });
    default:
      return '{}';
  }
}

/** Appends a batch of events to the audit log; events already recorded are skipped. */
export async function writeAuditEvents(db: Queryable, events: Event[]): Promise<void> {
  const column = <T>(pick: (e: Event) => T) => events.map(pick);
  await db.query(
    `INSERT INTO audit_events (event_id, event_type, occurred_at, request_id, trace_id, service, source_address,
       actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
       $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::jsonb[])
     ON CONFLICT (event_id) DO NOTHING`,
    [
      column((e) => e.id),
      column((e) => e.type),
      column((e) => (e.time ?? new Date()).toISOString()),
      column((e) => e.requestId),
      column((e) => e.traceId),
      column((e) => e.service),
      column((e) => e.sourceAddress),
      column((e) => e.actor?.keyId ?? ''),
      column((e) => e.actor?.teamId ?? ''),
      column((e) => e.actor?.customerId ?? ''),
      column((e) => e.actor?.admin ?? ''),
      column((e) => e.schemaVersion),
      column(payloadJson),
    ],
  );
}
