import type { FastifyRequest } from 'fastify';
import type { CacheOutcome, CacheRequest } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import { headerValue } from '../kit/http.js';

/**
 * The cache's part in one request, for routing: the admitted key's namespace and the controls of its headers:
 *   Cache-Control: no-cache    answer fresh (the answer is still stored)
 *   Cache-Control: no-store    do not store the answer
 *   Cache-Control: max-age=N   accept only an entry at most N seconds old
 *   Cache-Control: only-if-cached   answer only from the cache, else 504 not_cached
 *   x-gateway-cache-ttl: N     keep the answer N seconds (capped by caching.maxTtlSeconds)
 *   x-gateway-cache-namespace: a sub-namespace within the key's own namespace
 *   x-gateway-cache-threshold: minimum similarity (0 to 1) for a semantic hit, never below caching's floor
 */
export function cacheRequestOf(request: FastifyRequest, namespace: string): CacheRequest {
  const directives = new Map<string, string>();
  for (const part of headerOf(request, 'cache-control').split(',')) {
    const [name, value = ''] = part.trim().toLowerCase().split('=');
    if (name) directives.set(name, value.replace(/^"|"$/g, ''));
  }
  const maxAge = directives.has('max-age') ? wholeNumber(directives.get('max-age')!, 'cache-control', 'max-age=<seconds>') : 0;
  const ttl = headerOf(request, 'x-gateway-cache-ttl');
  const subNamespace = headerOf(request, 'x-gateway-cache-namespace');
  if (subNamespace && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(subNamespace)) {
    throw badHeader('x-gateway-cache-namespace', 'up to 64 letters, digits, ".", "_", ":" or "-", starting with a letter or digit');
  }
  const threshold = headerOf(request, 'x-gateway-cache-threshold');
  const similarity = threshold ? Number(threshold) : 0;
  if (threshold && !(similarity > 0 && similarity <= 1)) throw badHeader('x-gateway-cache-threshold', 'a number above 0 and at most 1, e.g. 0.95');
  return {
    namespace,
    subNamespace,
    noLookup: directives.has('no-cache') || (directives.has('max-age') && maxAge === 0),
    noStore: directives.has('no-store'),
    onlyIfCached: directives.has('only-if-cached'),
    ttlSeconds: ttl ? wholeNumber(ttl, 'x-gateway-cache-ttl', 'a whole number of seconds above 0', 1) : 0,
    maxAgeSeconds: maxAge,
    similarityThreshold: similarity,
  };
}

/** The x-gateway-cache headers of an answer: hit (with the entry's match, id, age and similarity), miss or skip. */
export function cacheHeaders(outcome: CacheOutcome | undefined): Record<string, string> {
  if (!outcome) return {};
  if (outcome.result !== 'hit') return { 'x-gateway-cache': outcome.result };
  return {
    'x-gateway-cache': 'hit',
    'x-gateway-cache-match': outcome.match,
    'x-gateway-cache-entry': outcome.entryId,
    age: String(Math.floor(outcome.ageMs / 1000)),
    ...(outcome.match === 'semantic' ? { 'x-gateway-cache-similarity': outcome.similarity.toFixed(4) } : {}),
  };
}

function headerOf(request: FastifyRequest, name: string): string {
  return headerValue(request.headers[name]) ?? '';
}

function wholeNumber(value: string, header: string, expected: string, min = 0): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw badHeader(header, expected);
  return n;
}

const badHeader = (header: string, expected: string) =>
  new GatewayError('invalid_request', `Invalid ${header} header: expected ${expected}.`, { param: header });
