import { createHash } from 'node:crypto';
import { canonicalJson } from '../kit/canonical-json.js';

/** Fields that do not change the answer, so two requests differing only in them share an entry. */
const IGNORED_FIELDS = new Set(['stream', 'stream_options', 'user', 'metadata', 'store', 'service_tier']);

/** Fields holding the conversation: compared by embedding for semantic matches, exactly otherwise. */
const CONVERSATION_FIELDS = new Set(['messages', 'system', 'prompt', 'input', 'instructions']);

export interface CacheableRequest {
  /** Digest of the endpoint and every field that changes the answer. */
  key: string;
  /** Digest of the endpoint and every such field but the conversation: what a semantic match must share exactly. */
  bucket: string;
  model: string;
  body: Record<string, unknown>;
}

const digest = (endpoint: string, fields: Record<string, unknown>) => createHash('sha256').update(endpoint).update('\n').update(canonicalJson(fields)).digest('hex');

/**
 * The request as the cache sees it, or why it may not be cached. Embeddings
 * are deterministic; generations are cached at temperature 0 only, unless
 * `cacheNonDeterministic`. Answers with logprobs are not cached (a replay
 * would not have them).
 */
export function cacheableRequest(endpoint: string, raw: Uint8Array, cacheNonDeterministic: boolean): CacheableRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not an object';
  const request = body as Record<string, unknown>;
  if (typeof request.model !== 'string') return 'no model';
  if (endpoint !== 'embeddings') {
    if (!cacheNonDeterministic && request.temperature !== 0) return 'temperature is not 0';
    if (request.logprobs !== undefined && request.logprobs !== false && request.logprobs !== null) return 'logprobs requested';
  }
  const relevant = Object.fromEntries(Object.entries(request).filter(([k]) => !IGNORED_FIELDS.has(k)));
  const parameters = Object.fromEntries(Object.entries(relevant).filter(([k]) => !CONVERSATION_FIELDS.has(k)));
  return { key: digest(endpoint, relevant), bucket: digest(endpoint, parameters), model: request.model, body: request };
}
