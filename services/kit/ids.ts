import { randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';

// Ids are drawn from a pool of random bytes filled 4 KiB at a time: a randomBytes()
// call per id costs a system call, three per request. Bytes are never handed out twice.
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function random(size: number): Buffer {
  if (used + size > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = pool.subarray(used, used + size);
  used += size;
  return bytes;
}

/** A UUIDv7 (RFC 9562): time-ordered, so event ids sort by creation time. */
export function uuidv7(now = Date.now()): string {
  // Written over in place: these pool bytes are never handed out again.
  const bytes = random(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Request ids are always made by the gateway, never taken from the client, so one id is one request. */
export function newRequestId(): string {
  return `req_${random(12).toString('hex')}`;
}

export function newTraceId(): string {
  return random(16).toString('hex');
}

/** An id for a stored entity: its kind, then 16 random hex digits (e.g. "team_1f3a…"). */
export function prefixedId(prefix: string): string {
  return `${prefix}_${random(8).toString('hex')}`;
}

/**
 * One start of one process, as other replicas record it (quota leases, held
 * admissions): readable host and pid, and random bytes, since a pid comes back
 * after a restart and a container's pid is often 1.
 */
export function processInstanceId(): string {
  return `${hostname()}:${process.pid}:${random(4).toString('hex')}`;
}
