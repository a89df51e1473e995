import { randomBytes } from 'node:crypto';

/** A UUIDv7 (RFC 9562): time-ordered, so event ids sort by creation time. */
export function uuidv7(now = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Request ids are always made by the gateway, never taken from the client, so one id is one request. */
export function newRequestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** An id for a stored entity: its kind, then 16 random hex digits (e.g. "team_1f3a…"). */
export function prefixedId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}
