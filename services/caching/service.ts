import { Counter, type Registry } from 'prom-client';
import type { CachingService, LookupRequest, LookupResponse, StoreRequest, StoreResponse } from '../gen/gateway/v1/caching.js';
import type { Api } from '../kit/grpc.js';
import { readOnScrape } from '../kit/metrics.js';
import type { CachingConfig } from './config.js';
import { cacheKey } from './key.js';
import { ExactStore } from './store.js';

const MISS_NOT_CACHEABLE: LookupResponse = { hit: false, key: '', body: Buffer.alloc(0), usage: undefined, served: undefined, ageMs: 0 };

/** Exact-match response cache, scoped by namespace. */
export class Caching implements Api<typeof CachingService> {
  private readonly entries: ExactStore;
  private readonly lookups: Counter<'result'>;

  constructor(
    private readonly config: CachingConfig,
    metrics: Registry,
  ) {
    this.entries = new ExactStore(config.ttlSeconds * 1000, config.maxEntries);
    this.lookups = new Counter({
      name: 'gateway_cache_lookups_total',
      help: 'Cache lookups, by result: hit, miss, or skip (request not cacheable).',
      labelNames: ['result'],
      registers: [metrics],
    });
    readOnScrape(metrics, 'gateway_cache_entries', 'Entries held by this caching replica.', () => this.entries.size);
  }

  async lookup(request: LookupRequest): Promise<LookupResponse> {
    const parsed = this.cacheable(request.endpoint, request.body);
    if (!parsed) {
      this.lookups.inc({ result: 'skip' });
      return MISS_NOT_CACHEABLE;
    }
    const key = cacheKey(request.endpoint, parsed);
    const now = Date.now();
    const entry = this.entries.get(request.namespace, key, now);
    if (!entry) {
      this.lookups.inc({ result: 'miss' });
      return { ...MISS_NOT_CACHEABLE, key };
    }
    this.lookups.inc({ result: 'hit' });
    return { hit: true, key, body: entry.body, usage: entry.usage, served: entry.served, ageMs: now - entry.storedAt };
  }

  async store(request: StoreRequest): Promise<StoreResponse> {
    if (this.config.enabled && request.key) {
      this.entries.set(request.namespace, request.key, {
        body: request.body,
        usage: request.usage,
        served: request.served,
        storedAt: Date.now(),
      });
    }
    return {};
  }

  /**
   * The parsed request when it may be answered from the cache, else undefined.
   * Embeddings are deterministic; generations only at temperature 0 unless
   * configured otherwise.
   */
  private cacheable(endpoint: string, body: Buffer): Record<string, unknown> | undefined {
    if (!this.config.enabled) return undefined;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    if (parsed.stream === true) return undefined;
    if (endpoint !== 'embeddings' && !this.config.cacheNonDeterministic && parsed.temperature !== 0) return undefined;
    return parsed;
  }
}
