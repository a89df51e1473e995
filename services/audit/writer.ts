import { Event } from '../gen/gateway/v1/events.js';
import { CanonicalText, canonicalJson } from '../kit/canonical-json.js';
import { arrayLiteral } from '../kit/db/arrays.js';
import { storableJsonText, storableText } from '../kit/db/storable.js';
import type { Queryable } from '../kit/db/types.js';
import { CHAIN_HEAD, chainHash, lockChain, type ChainedRow, type ChainKey } from './chain.js';
import { keepContent, splitContent, type Split } from './content.js';

/**
 * The payload as JSON, keyed by its kind: {"request": {...}}, {"tool": {...}},
 * with the storage policies that decided its content beside it when any did
 * (the row's hash covers them). Rendered through the envelope's own JSON
 * mapping with every other field at its default (and so left out), so a new
 * kind of payload is never dropped.
 */
function payloadOf(event: Event): Record<string, unknown> {
  return Event.toJSON({ ...EMPTY_ENVELOPE, storagePolicies: event.storagePolicies, payload: event.payload }) as Record<string, unknown>;
}

const EMPTY_ENVELOPE = Event.fromPartial({});

/**
 * A row as stored, with its payload's JSON text and the content taken out of it (content.ts). Strings PostgreSQL
 * cannot hold are replaced before the hash is made, so the hash covers what is stored.
 */
function rowOf(event: Event): { row: ChainedRow; payloadJson: string; content: Split['content'] } {
  const split = splitContent(payloadOf(event));
  // Canonical text, so the one text is both what is stored and what the hash covers.
  const payload = storableJsonText(split.payload, canonicalJson);
  const row: ChainedRow = {
    event_id: event.id,
    event_type: storableText(event.type),
    occurred_at: (event.time ?? new Date()).toISOString(),
    request_id: storableText(event.requestId),
    trace_id: storableText(event.traceId),
    service: storableText(event.service),
    source_address: storableText(event.sourceAddress),
    actor_key_id: storableText(event.actor?.keyId ?? ''),
    actor_team_id: storableText(event.actor?.teamId ?? ''),
    actor_customer_id: storableText(event.actor?.customerId ?? ''),
    actor_admin: storableText(event.actor?.admin ?? ''),
    schema_version: event.schemaVersion,
    // The stored text, so the hash covers what the database stores and verify reads back (and canonicalizes again).
    payload: new CanonicalText(payload.json),
  };
  return { row, payloadJson: payload.json, content: split.content };
}

/**
 * Appends a batch of events to the audit log, in order, each row chained to
 * the one before with the key. Events already recorded (a redelivery, a
 * re-publish) are left out before chaining, so the chain never points at a row
 * not written.
 */
export async function writeAuditEvents(db: Queryable, events: Event[], key: ChainKey, contentDays = 0): Promise<void> {
  await lockChain(db);
  await appendToChain(db, events, key, contentDays);
}

/**
 * writeAuditEvents for a transaction that already holds the chain's lock (opened with LOCK_CHAIN). `contentDays` is
 * how long content is kept where its team or customer has no retention of its own (0: kept).
 */
export async function appendToChain(db: Queryable, events: Event[], key: ChainKey, contentDays = 0): Promise<void> {
  if (events.length === 0) return;
  const ids = [...new Set(events.map((e) => e.id))];
  // Which events are known, and the chain's head, in one round trip.
  const {
    rows: [state],
  } = await db.query<{ known: string[]; hash: string }>(
    `SELECT (SELECT coalesce(array_agg(event_id::text), '{}') FROM audit_events WHERE event_id = ANY($1::uuid[])) AS known, head.hash
     FROM (${CHAIN_HEAD}) AS head`,
    [ids],
  );
  const seen = new Set(state!.known);
  const fresh = events.filter((e) => {
    if (seen.has(e.id)) return false;
    seen.add(e.id);
    return true;
  });
  if (fresh.length === 0) return;

  let previous = state!.hash;
  const stored = fresh.map(rowOf);
  const rows = stored.map((s) => s.row);
  const links = rows.map((row) => {
    const link = { prev: previous, hash: chainHash(previous, row, key) };
    previous = link.hash;
    return link;
  });
  const column = (pick: (row: ChainedRow, i: number) => string | number) => arrayLiteral(rows.map(pick));
  await db.query(
    `INSERT INTO audit_events (event_id, event_type, occurred_at, request_id, trace_id, service, source_address,
       actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload, prev_hash, hash)
     SELECT a, b, c, d, e, f, g, h, i, j, k, l, m, n, o FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
       $8::text[], $9::text[], $10::text[], $11::text[], $12::int[],
       ARRAY(SELECT value FROM jsonb_array_elements($13::jsonb) WITH ORDINALITY ORDER BY ordinality), $14::text[], $15::text[])
       WITH ORDINALITY AS t(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, ord)
     ORDER BY ord`,
    [
      column((r) => r.event_id),
      column((r) => r.event_type),
      column((r) => r.occurred_at),
      column((r) => r.request_id),
      column((r) => r.trace_id),
      column((r) => r.service),
      column((r) => r.source_address),
      column((r) => r.actor_key_id),
      column((r) => r.actor_team_id),
      column((r) => r.actor_customer_id),
      column((r) => r.actor_admin),
      column((r) => r.schema_version),
      // One JSON array of the payloads: their text goes in as it is, where an array literal would escape every quote.
      `[${stored.map((s) => s.payloadJson).join(',')}]`,
      column((_, i) => links[i]!.prev),
      column((_, i) => links[i]!.hash),
    ],
  );
  const contents = stored.flatMap((s, i) => (s.content ? [{ eventId: rows[i]!.event_id, ...s.content }] : []));
  await keepContent(db, contents, contentDays);
}
