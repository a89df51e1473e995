import type { FastifyRequest } from 'fastify';
import type { CacheControl, LookupResponse } from '../gen/gateway/v1/caching.js';
import type { Served, StoredAnswer, Usage } from '../gen/gateway/v1/common.js';
import { GatewayError } from '../kit/errors.js';
import { headerValue } from '../kit/http.js';
import type { InboundRequest, PipelineDeps } from './pipeline.js';

/**
 * Per-request cache controls, from headers:
 *   Cache-Control: no-cache    answer fresh (the answer is still stored)
 *   Cache-Control: no-store    do not store the answer
 *   Cache-Control: max-age=N   accept only an entry at most N seconds old
 *   Cache-Control: only-if-cached   answer only from the cache, else 504 not_cached
 *   x-gateway-cache-ttl: N     keep the answer N seconds (capped by caching.maxTtlSeconds)
 *   x-gateway-cache-namespace: a sub-namespace within the key's own namespace
 *   x-gateway-cache-threshold: minimum similarity (0 to 1) for a semantic hit, never below caching's floor
 */
export function cacheControlOf(request: FastifyRequest): CacheControl & { onlyIfCached: boolean } {
  const directives = new Map<string, string>();
  for (const part of headerOf(request, 'cache-control').split(',')) {
    const [name, value = ''] = part.trim().toLowerCase().split('=');
    if (name) directives.set(name, value.replace(/^"|"$/g, ''));
  }
  const maxAge = directives.has('max-age') ? wholeNumber(directives.get('max-age')!, 'cache-control', 'max-age=<seconds>') : 0;
  const ttl = headerOf(request, 'x-gateway-cache-ttl');
  const namespace = headerOf(request, 'x-gateway-cache-namespace');
  if (namespace && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(namespace)) {
    throw badHeader('x-gateway-cache-namespace', 'up to 64 letters, digits, ".", "_", ":" or "-", starting with a letter or digit');
  }
  const threshold = headerOf(request, 'x-gateway-cache-threshold');
  const similarity = threshold ? Number(threshold) : 0;
  if (threshold && !(similarity > 0 && similarity <= 1)) throw badHeader('x-gateway-cache-threshold', 'a number above 0 and at most 1, e.g. 0.95');
  return {
    noLookup: directives.has('no-cache') || (directives.has('max-age') && maxAge === 0),
    noStore: directives.has('no-store'),
    ttlSeconds: ttl ? wholeNumber(ttl, 'x-gateway-cache-ttl', 'a whole number of seconds above 0', 1) : 0,
    maxAgeSeconds: maxAge,
    namespace,
    similarityThreshold: similarity,
    onlyIfCached: directives.has('only-if-cached'),
  };
}

/**
 * The cache around one request: looks it up before routing, hands routing a
 * hit to render, stores a fresh answer, and says what happened in headers.
 * A cache that fails is logged and passed by: the request goes to a provider.
 */
export class CacheStep {
  private result: LookupResponse | undefined;
  private skipped = true;

  constructor(
    private readonly deps: PipelineDeps,
    private readonly inbound: InboundRequest,
    private readonly control: CacheControl & { onlyIfCached: boolean },
    private readonly body: Buffer,
    private readonly parsed: Record<string, unknown>,
  ) {}

  async lookup(): Promise<void> {
    if (this.control.noLookup && this.control.noStore) return;
    const { context, endpoint } = this.inbound;
    if (this.deps.cachePolicy.skipsRequest(endpoint, this.parsed)) return this.notCached();
    const { onlyIfCached: _, ...control } = this.control;
    this.result = await this.deps.clients.caching
      .lookup({ context, namespace: this.inbound.cacheNamespace, endpoint, body: this.body, control })
      .catch((err: unknown) => {
        this.deps.log.warn({ err, requestId: context.requestId }, 'cache lookup failed; calling the provider');
        return undefined;
      });
    if (this.result) this.deps.cachePolicy.learn(this.result.policy);
    this.skipped = !this.result?.cacheable;
    if (!this.result?.hit) this.notCached();
  }

  private notCached(): void {
    if (this.control.onlyIfCached)
      throw new GatewayError('not_cached', 'No cached answer matches this request, and Cache-Control: only-if-cached forbids asking a provider.');
  }

  /** The stored answer for routing to render, on a hit. */
  get hit(): StoredAnswer | undefined {
    return this.result?.hit ? this.result.answer : undefined;
  }

  /** Whether routing should return the answer in the shape the cache stores. */
  get wantsAnswer(): boolean {
    return !this.skipped && !this.result?.hit && !this.control.noStore;
  }

  store(answer: Buffer, usage: Usage | undefined, served: Served | undefined): void {
    if (!this.wantsAnswer || answer.length === 0) return;
    const { context, endpoint } = this.inbound;
    const { onlyIfCached: _, ...control } = this.control;
    this.deps.clients.caching
      .store({
        context,
        namespace: this.inbound.cacheNamespace,
        endpoint,
        body: this.body,
        control,
        answer: { answer, usage, served },
        embedding: this.result?.embedding ?? Buffer.alloc(0),
      })
      .catch((err: unknown) => this.deps.log.warn({ err, requestId: context.requestId }, 'cache store failed'));
  }

  headers(): Record<string, string> {
    const result = this.result;
    if (!result?.hit) return { 'x-gateway-cache': this.skipped ? 'skip' : 'miss' };
    return {
      'x-gateway-cache': 'hit',
      'x-gateway-cache-match': result.match,
      'x-gateway-cache-entry': result.entryId,
      age: String(Math.floor(result.ageMs / 1000)),
      ...(result.match === 'semantic' ? { 'x-gateway-cache-similarity': result.similarity.toFixed(4) } : {}),
    };
  }
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
