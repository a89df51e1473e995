import { createHash } from 'node:crypto';

/** Fields that do not change the answer, so two requests differing only in them share an entry. */
const IGNORED_FIELDS = new Set(['stream', 'stream_options', 'user', 'metadata', 'store']);

/** JSON with object keys sorted at every level, so equal requests give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The cache key of a request: a digest of its endpoint and every field that changes the answer. */
export function cacheKey(endpoint: string, request: Record<string, unknown>): string {
  const relevant = Object.fromEntries(Object.entries(request).filter(([k]) => !IGNORED_FIELDS.has(k)));
  return createHash('sha256').update(endpoint).update('\n').update(canonicalJson(relevant)).digest('hex');
}
