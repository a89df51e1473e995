import { createHash } from 'node:crypto';
import { canonicalJson } from '../kit/canonical-json.js';

/** Fields that do not change the answer, so two requests differing only in them share an entry. */
const IGNORED_FIELDS = new Set(['stream', 'stream_options', 'user', 'metadata', 'store']);

/** The cache key of a request: a digest of its endpoint and every field that changes the answer. */
export function cacheKey(endpoint: string, request: Record<string, unknown>): string {
  const relevant = Object.fromEntries(Object.entries(request).filter(([k]) => !IGNORED_FIELDS.has(k)));
  return createHash('sha256').update(endpoint).update('\n').update(canonicalJson(relevant)).digest('hex');
}
