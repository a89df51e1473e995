import { Counter, type Registry } from 'prom-client';
import type {
  CacheEntry,
  CachingService,
  ListEntriesRequest,
  ListEntriesResponse,
  LookupRequest,
  LookupResponse,
  PurgeRequest,
  PurgeResponse,
  StoreRequest,
  StoreResponse,
} from '../gen/gateway/v1/caching.js';
import type { Api } from '../kit/grpc.js';
import { prefixedId } from '../kit/ids.js';
import { readOnScrape } from '../kit/metrics.js';
import type { CachingConfig } from './config.js';
import { cacheableRequest, type CacheableRequest } from './request.js';
import type { SharedEntries } from './shared.js';
import { entrySize, MemoryStore, type Entry, type Selector } from './store.js';

const EMPTY = Buffer.alloc(0);
const NOT_CACHEABLE: LookupResponse = { hit: false, cacheable: false, answer: undefined, ageMs: 0, match: '', similarity: 0, entryId: '', embedding: EMPTY };
const MISS: LookupResponse = { ...NOT_CACHEABLE, cacheable: true };

/** The namespace a request's entries live in: the caller's, or a sub-namespace of it the request named. */
export function effectiveNamespace(namespace: string, sub: string | undefined): string {
  return sub ? `${namespace}/${sub}` : namespace;
}

function view(entry: Entry): CacheEntry {
  return {
    id: entry.id,
    namespace: entry.namespace,
    endpoint: entry.endpoint,
    model: entry.model,
    served: entry.served,
    keyId: entry.keyId,
    match: entry.vector ? 'semantic' : 'exact',
    createdMs: entry.createdMs,
    expiresMs: entry.expiresMs,
    hits: entry.hits,
    sizeBytes: entrySize(entry),
  };
}

/** The response cache: exact matches within a namespace, entries bounded in memory. */
export class Caching implements Api<typeof CachingService> {
  readonly entries: MemoryStore;
  private readonly lookups: Counter<'result'>;
  private readonly removed: Counter<'reason'>;
  /** Set once the shared store is open; until then (and in unit tests) entries stay in this replica. */
  shared: SharedEntries | undefined;

  constructor(
    private readonly config: CachingConfig,
    metrics: Registry,
  ) {
    this.removed = new Counter({ name: 'gateway_cache_removed_total', help: 'Entries removed, by reason: evicted, expired, purged, replaced.', labelNames: ['reason'], registers: [metrics] });
    this.entries = new MemoryStore({ maxEntries: config.maxEntries, maxBytes: config.maxMemoryMb * 1024 * 1024 }, (_, why) => this.removed.inc({ reason: why }));
    this.lookups = new Counter({
      name: 'gateway_cache_lookups_total',
      help: 'Cache lookups, by result: hit, miss, or skip (request not cacheable, or the client asked not to use the cache).',
      labelNames: ['result'],
      registers: [metrics],
    });
    readOnScrape(metrics, 'gateway_cache_entries', 'Entries held in memory by this caching replica.', () => this.entries.size);
    readOnScrape(metrics, 'gateway_cache_memory_bytes', 'Bytes of answers and embeddings held in memory by this caching replica.', () => this.entries.sizeBytes);
  }

  async lookup(request: LookupRequest): Promise<LookupResponse> {
    const question = this.question(request.endpoint, request.body);
    if (!question) {
      this.lookups.inc({ result: 'skip' });
      return NOT_CACHEABLE;
    }
    if (request.control?.noLookup) {
      this.lookups.inc({ result: 'skip' });
      return MISS;
    }
    const now = Date.now();
    const namespace = effectiveNamespace(request.namespace, request.control?.namespace);
    const entry = this.entries.getExact(namespace, question.key, now);
    const maxAgeMs = (request.control?.maxAgeSeconds ?? 0) * 1000;
    if (!entry || (maxAgeMs > 0 && now - entry.createdMs > maxAgeMs)) {
      this.lookups.inc({ result: 'miss' });
      return MISS;
    }
    entry.hits++;
    this.lookups.inc({ result: 'hit' });
    return {
      ...MISS,
      hit: true,
      answer: { answer: entry.answer, usage: entry.usage, served: entry.served },
      ageMs: now - entry.createdMs,
      match: 'exact',
      similarity: 1,
      entryId: entry.id,
    };
  }

  async store(request: StoreRequest): Promise<StoreResponse> {
    const question = this.question(request.endpoint, request.body);
    const answer = request.answer;
    if (!question || request.control?.noStore || !answer || answer.answer.length === 0 || answer.answer.length > this.config.maxEntryBytes) return { entryId: '' };
    const now = Date.now();
    const requested = request.control?.ttlSeconds ?? 0;
    const ttlSeconds = requested > 0 ? Math.min(requested, this.config.maxTtlSeconds) : this.config.ttlSeconds;
    const entry: Entry = {
      id: prefixedId('ce'),
      namespace: effectiveNamespace(request.namespace, request.control?.namespace),
      key: question.key,
      bucket: question.bucket,
      endpoint: request.endpoint,
      model: question.model,
      keyId: request.context?.actor?.keyId ?? '',
      answer: Buffer.from(answer.answer),
      usage: answer.usage,
      served: answer.served,
      createdMs: now,
      expiresMs: now + ttlSeconds * 1000,
      hits: 0,
    };
    this.entries.add(entry);
    void this.shared?.save(entry);
    return { entryId: entry.id };
  }

  async listEntries(request: ListEntriesRequest): Promise<ListEntriesResponse> {
    const found = this.entries.list(selectorOf(request.selector)).filter((e) => e.expiresMs > Date.now());
    const limit = request.limit > 0 ? request.limit : 100;
    return { entries: found.slice(-limit).reverse().map(view), total: found.length };
  }

  async purge(request: PurgeRequest): Promise<PurgeResponse> {
    const selector = selectorOf(request.selector);
    const inMemory = this.entries.purge(selector).length;
    return { purged: this.shared ? await this.shared.purge(selector) : inMemory };
  }

  private question(endpoint: string, body: Uint8Array): CacheableRequest | undefined {
    if (!this.config.enabled) return undefined;
    const question = cacheableRequest(endpoint, body, this.config.cacheNonDeterministic);
    return typeof question === 'string' ? undefined : question;
  }
}

function selectorOf(selector: { namespace: string; keyId: string; entryId: string } | undefined): Selector {
  return { namespace: selector?.namespace || undefined, keyId: selector?.keyId || undefined, entryId: selector?.entryId || undefined };
}
