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
import { SemanticIndex } from './semantic.js';
import { normalize, unpackVector } from './vectors.js';
import type { SharedEntries } from './shared.js';
import { entrySize, MemoryStore, type Entry, type Selector } from './store.js';

const MISS: LookupResponse = { hit: false, answer: undefined, ageMs: 0, entryId: '', match: '', similarity: 0 };

function hit(entry: Entry, match: 'exact' | 'semantic', similarity: number, now: number): LookupResponse {
  entry.hits++;
  return {
    hit: true,
    answer: { answer: entry.answer, usage: entry.usage, served: entry.served },
    ageMs: now - entry.createdMs,
    entryId: entry.id,
    match,
    similarity,
  };
}

/** A question's embedding as sent, at unit length; none when the bytes are not float32s. */
function vectorOf(bytes: Uint8Array): Float32Array | undefined {
  const vector = unpackVector(bytes);
  return vector && normalize(vector);
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

/**
 * The store of cached answers: exact matches within a namespace and, when
 * semantic caching is on, the entry of the nearest question in the same
 * namespace, model and bucket. Routing decides what is cached and asks by key
 * and vector; entries are bounded in memory and shared through the database.
 */
export class Caching implements Api<typeof CachingService> {
  readonly entries: MemoryStore;
  private readonly semantic: SemanticIndex | undefined;
  private readonly removed: Counter<'reason'>;
  /** Set once the shared store is open; until then (and in unit tests) entries stay in this replica. */
  shared: SharedEntries | undefined;

  constructor(config: Pick<CachingConfig, 'maxEntries' | 'maxMemoryMb' | 'semantic'>, metrics: Registry) {
    this.semantic = config.semantic.enabled ? new SemanticIndex(config.semantic.hnswFrom) : undefined;
    this.removed = new Counter({
      name: 'gateway_cache_removed_total',
      help: 'Entries removed, by reason: evicted, expired, purged, replaced.',
      labelNames: ['reason'],
      registers: [metrics],
    });
    this.entries = new MemoryStore({ maxEntries: config.maxEntries, maxBytes: config.maxMemoryMb * 1024 * 1024 }, (entry, why) => {
      this.removed.inc({ reason: why });
      this.semantic?.remove(entry);
    });
    readOnScrape(metrics, 'gateway_cache_entries', 'Entries held in memory by this caching replica.', () => this.entries.size);
    readOnScrape(
      metrics,
      'gateway_cache_memory_bytes',
      'Bytes of answers and embeddings held in memory by this caching replica.',
      () => this.entries.sizeBytes,
    );
  }

  async lookup(request: LookupRequest): Promise<LookupResponse> {
    const now = Date.now();
    const fresh = (entry: Entry | undefined) => (entry && (request.maxAgeMs === 0 || now - entry.createdMs <= request.maxAgeMs) ? entry : undefined);
    const exact = fresh(this.entries.getExact(request.namespace, request.key, now));
    if (exact) return hit(exact, 'exact', 1, now);
    const similar = request.similar;
    const vector = similar && this.semantic ? vectorOf(similar.vector) : undefined;
    if (similar && vector) {
      const near = this.semantic!.nearest({ namespace: request.namespace, model: similar.model, bucket: similar.bucket }, vector, similar.threshold);
      const entry = near ? fresh(this.entries.touch(near.id, now)) : undefined;
      if (entry) return hit(entry, 'semantic', near!.similarity, now);
    }
    return MISS;
  }

  async store(request: StoreRequest): Promise<StoreResponse> {
    const answer = request.answer;
    if (!answer || answer.answer.length === 0 || request.ttlSeconds <= 0) return { entryId: '' };
    const now = Date.now();
    const entry: Entry = {
      id: prefixedId('ce'),
      namespace: request.namespace,
      key: request.key,
      bucket: '',
      endpoint: request.endpoint,
      model: request.model,
      keyId: request.keyId,
      answer: Buffer.from(answer.answer),
      usage: answer.usage,
      served: answer.served,
      createdMs: now,
      expiresMs: now + request.ttlSeconds * 1000,
      hits: 0,
    };
    const vector = request.similar && this.semantic ? vectorOf(request.similar.vector) : undefined;
    if (vector) {
      entry.vector = vector;
      entry.bucket = request.similar!.bucket;
    }
    this.indexed(entry);
    void this.shared?.save(entry);
    return { entryId: entry.id };
  }

  /** Adds an entry stored here or loaded from the shared store. */
  indexed(entry: Entry): void {
    this.entries.add(entry);
    this.semantic?.add(entry);
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
}

function selectorOf(selector: { namespace: string; keyId: string; entryId: string } | undefined): Selector {
  return { namespace: selector?.namespace || undefined, keyId: selector?.keyId || undefined, entryId: selector?.entryId || undefined };
}
