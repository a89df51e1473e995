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
import type { RequestContext } from '../gen/gateway/v1/common.js';
import type { Logger } from '../kit/log.js';
import { cacheableRequest, semanticQuestion, type CacheableRequest, type SemanticQuestion } from './request.js';
import { SemanticIndex } from './semantic.js';
import { normalize, packVector, unpackVector } from './vectors.js';
import type { SharedEntries } from './shared.js';
import { entrySize, MemoryStore, type Entry, type Selector } from './store.js';

const EMPTY = Buffer.alloc(0);

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

/** Embeds a question through routing, as a request of the caller's. */
export type Embed = (text: string, context: RequestContext | undefined) => Promise<Float32Array>;

/**
 * The response cache: exact matches within a namespace and, when enabled,
 * questions close in meaning to an earlier one (same namespace, model and
 * parameters). Entries are bounded in memory.
 */
export class Caching implements Api<typeof CachingService> {
  readonly entries: MemoryStore;
  private readonly semantic: SemanticIndex | undefined;
  private readonly lookups: Counter<'result' | 'match'>;
  private readonly removed: Counter<'reason'>;
  /** Set once the shared store is open; until then (and in unit tests) entries stay in this replica. */
  shared: SharedEntries | undefined;
  /** The least similarity a semantic hit may have, whatever the request asks for. */
  private readonly thresholdFloor: number;
  /** Answers without a hit, each telling the caller what this replica never caches. */
  private readonly notCacheable: LookupResponse;
  private readonly miss: LookupResponse;

  constructor(
    private readonly config: CachingConfig,
    metrics: Registry,
    private readonly log: Logger,
    private readonly embed?: Embed,
  ) {
    this.semantic = config.semantic.enabled && embed ? new SemanticIndex(config.semantic.hnswFrom) : undefined;
    this.thresholdFloor = config.semantic.minThreshold ?? config.semantic.threshold;
    const policy = { disabled: !config.enabled, deterministicOnly: !config.cacheNonDeterministic };
    this.notCacheable = { hit: false, cacheable: false, answer: undefined, ageMs: 0, match: '', similarity: 0, entryId: '', embedding: EMPTY, policy };
    this.miss = { ...this.notCacheable, cacheable: true };
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
    this.lookups = new Counter({
      name: 'gateway_cache_lookups_total',
      help: 'Cache lookups, by result (hit, miss, or skip: not cacheable, or the client said no-cache) and, for hits, match (exact, semantic).',
      labelNames: ['result', 'match'],
      registers: [metrics],
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
    const question = this.question(request.endpoint, request.body);
    if (!question || request.control?.noLookup) {
      this.lookups.inc({ result: 'skip', match: '' });
      return question ? this.miss : this.notCacheable;
    }
    const now = Date.now();
    const namespace = effectiveNamespace(request.namespace, request.control?.namespace);
    const maxAgeMs = (request.control?.maxAgeSeconds ?? 0) * 1000;
    const fresh = (entry: Entry | undefined) => (entry && (maxAgeMs === 0 || now - entry.createdMs <= maxAgeMs) ? entry : undefined);
    const exact = fresh(this.entries.getExact(namespace, question.key, now));
    if (exact) return this.hit(exact, 'exact', 1, now);
    const semantic = this.semanticQuestion(request.endpoint, question);
    const vector = semantic && (await this.questionVector(request, semantic));
    if (semantic && vector) {
      // A request may ask for closer matches, never for looser ones than the floor.
      const threshold = Math.max(request.control?.similarityThreshold || this.config.semantic.threshold, this.thresholdFloor);
      const near = this.semantic!.nearest({ namespace, model: question.model, bucket: semantic.bucket }, vector, threshold);
      const entry = near ? fresh(this.entries.touch(near.id, now)) : undefined;
      if (entry) return this.hit(entry, 'semantic', near!.similarity, now);
    }
    this.lookups.inc({ result: 'miss', match: '' });
    return vector ? { ...this.miss, embedding: packVector(vector) } : this.miss;
  }

  private hit(entry: Entry, match: 'exact' | 'semantic', similarity: number, now: number): LookupResponse {
    entry.hits++;
    this.lookups.inc({ result: 'hit', match });
    return {
      ...this.miss,
      hit: true,
      answer: { answer: entry.answer, usage: entry.usage, served: entry.served },
      ageMs: now - entry.createdMs,
      match,
      similarity,
      entryId: entry.id,
    };
  }

  /** What a semantic lookup compares, when semantic lookups are on and apply to the request. */
  private semanticQuestion(endpoint: string, question: CacheableRequest): SemanticQuestion | undefined {
    if (!this.semantic) return undefined;
    return semanticQuestion(endpoint, question.body, { embeddingModel: this.config.semantic.embeddingModel, maxChars: this.config.semantic.maxTextChars });
  }

  /** The question's embedding; a failed embedding call only costs the semantic lookup. */
  private async questionVector(request: LookupRequest, semantic: SemanticQuestion): Promise<Float32Array | undefined> {
    try {
      return normalize(await this.embed!(semantic.text, request.context));
    } catch (err) {
      this.log.warn({ err, requestId: request.context?.requestId }, 'embedding the question failed; exact lookup only');
      return undefined;
    }
  }

  async store(request: StoreRequest): Promise<StoreResponse> {
    const question = this.question(request.endpoint, request.body);
    const answer = request.answer;
    if (!question || request.control?.noStore || !answer || answer.answer.length === 0 || answer.answer.length > this.config.maxEntryBytes)
      return { entryId: '' };
    const now = Date.now();
    const requested = request.control?.ttlSeconds ?? 0;
    const ttlSeconds = requested > 0 ? Math.min(requested, this.config.maxTtlSeconds) : this.config.ttlSeconds;
    const entry: Entry = {
      id: prefixedId('ce'),
      namespace: effectiveNamespace(request.namespace, request.control?.namespace),
      key: question.key,
      bucket: '',
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
    const semantic = this.semanticQuestion(request.endpoint, question);
    const vector = semantic && unpackVector(request.embedding);
    if (vector) {
      entry.vector = vector;
      entry.bucket = semantic.bucket;
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

  private question(endpoint: string, body: Uint8Array): CacheableRequest | undefined {
    if (!this.config.enabled) return undefined;
    const question = cacheableRequest(endpoint, body, this.config.cacheNonDeterministic);
    return typeof question === 'string' ? undefined : question;
  }
}

function selectorOf(selector: { namespace: string; keyId: string; entryId: string } | undefined): Selector {
  return { namespace: selector?.namespace || undefined, keyId: selector?.keyId || undefined, entryId: selector?.entryId || undefined };
}
