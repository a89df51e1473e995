import { createHash } from 'node:crypto';
import { canonicalJson } from '../kit/canonical-json.js';
import { arrayLiteral } from '../kit/db/arrays.js';
import { storableJsonText } from '../kit/db/storable.js';
import type { Queryable } from '../kit/db/types.js';

/** Retention classes of content kept beside the chain (guardrails' storage classes of the same name). */
export const CONTENT_CLASSES = ['toolArguments'] as const;
export type ContentClass = (typeof CONTENT_CLASSES)[number];

/** The fields of each payload kind that hold content (recorded only with a key's content logging). */
const CONTENT_FIELDS: Record<string, { fields: string[]; dataClass: ContentClass }> = {
  tool: { fields: ['argumentsJson', 'resultJson'], dataClass: 'toolArguments' },
  codeRun: { fields: ['program', 'resultJson'], dataClass: 'toolArguments' },
};

type Payload = Record<string, unknown>;

/** What a chained row says of its content: the digest the chain covers, and its class. */
interface ContentRef {
  sha256: string;
  class: ContentClass;
}

export interface Split {
  /** The payload as chained: its content fields taken out, their SHA-256 in `content`. */
  payload: Payload;
  content?: { dataClass: ContentClass; text: string };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Takes a payload's content out of what the chain hashes, so the text can expire while the row keeps verifying: the
 * row keeps `{"content": {"sha256", "class"}}`, and the text, as canonical JSON of the fields taken out, goes to
 * audit_content (keepContent). A payload without content is returned as it is.
 */
export function splitContent(payload: Payload): Split {
  for (const [kind, { fields, dataClass }] of Object.entries(CONTENT_FIELDS)) {
    const body = payload[kind] as Payload | undefined;
    if (!body || !fields.some((f) => body[f])) continue;
    const taken = Object.fromEntries(fields.filter((f) => body[f]).map((f) => [f, body[f]]));
    const text = storableJsonText({ [kind]: taken }, canonicalJson).json;
    const rest = Object.fromEntries(Object.entries(body).filter(([f]) => !(f in taken)));
    const content: ContentRef = { sha256: sha256(text), class: dataClass };
    return { payload: { ...payload, [kind]: rest, content }, content: { dataClass, text } };
  }
  return { payload };
}

/**
 * Stores the content of rows chained in this transaction, through the owner's audit_keep_content, which decides when
 * it expires: the tenant's retention for its class, else `defaultDays` (0: kept), never below the owner's floor.
 */
export async function keepContent(db: Queryable, rows: { eventId: string; dataClass: ContentClass; text: string }[], defaultDays: number): Promise<void> {
  if (rows.length === 0) return;
  await db.query('SELECT audit_keep_content($1, $2::uuid[], $3::text[], $4::text[])', [
    defaultDays,
    arrayLiteral(rows.map((r) => r.eventId)),
    arrayLiteral(rows.map((r) => r.dataClass)),
    arrayLiteral(rows.map((r) => r.text)),
  ]);
}

/** A row's content, from the kept months or set aside under a hold: for a read of audit_events aliased `e`. */
export const CONTENT_OF_ROW = `CASE WHEN e.payload ? 'content' THEN coalesce(
    (SELECT c.content FROM audit_content c WHERE c.event_id = e.event_id),
    (SELECT c.content FROM audit_content_held c WHERE c.event_id = e.event_id)) END`;

/**
 * The payload as an auditor reads it: the content put back where it was taken from while it is kept; once expired
 * (or not matching the digest the chain keeps), `content` says so instead.
 */
export function withContent(payload: Payload, content: Payload | null | undefined): Payload {
  const ref = payload.content as ContentRef | undefined;
  if (!ref) return payload;
  if (!content) return { ...payload, content: { ...ref, expired: true } };
  if (sha256(canonicalJson(content)) !== ref.sha256) return { ...payload, content: { ...ref, altered: true } };
  const { content: _, ...rest } = payload;
  for (const [kind, fields] of Object.entries(content)) rest[kind] = { ...(rest[kind] as Payload), ...(fields as Payload) };
  return rest;
}
