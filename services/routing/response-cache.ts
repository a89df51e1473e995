import { Counter, type Registry } from 'prom-client';
import type { CachingService, LookupResponse, SimilarTo } from '../gen/gateway/v1/caching.js';
import type { RequestContext, Served, StoredAnswer, Usage } from '../gen/gateway/v1/common.js';
import type { CacheOutcome, CacheRequest } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import type { Api } from '../kit/grpc.js';
import type { Logger } from '../kit/log.js';
import { cacheableRequest, semanticQuestion, type CacheableRequest } from './cache-request.js';

/** What routing applies of the `caching` config section: which requests are cached, for how long, how questions match. */
export interface ResponseCacheSettings {
  enabled: boolean;
  ttlSeconds: number;
  maxTtlSeconds: number;
  maxEntryBytes: number;
  cacheNonDeterministic: boolean;
  semantic: { enabled: boolean; embeddingModel: string; threshold: number; minThreshold?: number | undefined; maxTextChars: number };
}

/** Embeds a question with the configured model, as a request of the caller's. */
export type EmbedQuestion = (text: string, context: RequestContext | undefined) => Promise<number[]>;

/** One request's use of the cache: what the lookup found, and where a fresh answer goes. */
export interface CacheTurn {
  readonly outcome: CacheOutcome;
  /** The stored answer to render, on a hit. */
  readonly hit: StoredAnswer | undefined;
  /** Whether a fresh answer is stored: routing then keeps it in the canonical shape. */
  readonly storesAnswer: boolean;
  store(answer: Buffer, usage: Usage | undefined, served: Served | undefined): void;
}

const outcome = (result: 'hit' | 'miss' | 'skip', found?: LookupResponse): CacheOutcome => ({
  result,
  match: found?.match ?? '',
  entryId: found?.entryId ?? '',
  ageMs: found?.ageMs ?? 0,
  similarity: found?.similarity ?? 0,
});

const notCached = () => new GatewayError('not_cached', 'No cached answer matches this request, and Cache-Control: only-if-cached forbids asking a provider.');

/**
 * The response cache on the request path: routing, which has parsed the
 * request, decides whether it may be cached, asks caching by key (and by the
 * question's embedding, which it computes), renders a hit, and stores a fresh
 * answer. A cache that fails is logged and passed by: the provider answers.
 */
export class ResponseCache {
  private readonly lookups: Counter<'result' | 'match'>;
  /** The least similarity a semantic hit may have, whatever the request asks for. */
  private readonly thresholdFloor: number;

  constructor(
    private readonly settings: ResponseCacheSettings,
    private readonly caching: Api<typeof CachingService>,
    private readonly embed: EmbedQuestion | undefined,
    metrics: Registry,
    private readonly log: Logger,
  ) {
    this.thresholdFloor = settings.semantic.minThreshold ?? settings.semantic.threshold;
    this.lookups = new Counter({
      name: 'gateway_cache_lookups_total',
      help: 'Cache lookups, by result (hit, miss, or skip: not cacheable, or the client said no-cache) and, for hits, match (exact, semantic).',
      labelNames: ['result', 'match'],
      registers: [metrics],
    });
  }

  /** Looks the request up; undefined when the cache takes no part in it (no CacheRequest). */
  async lookup(endpoint: string, body: Record<string, unknown>, context: RequestContext | undefined, request: CacheRequest | undefined) {
    if (!request) return undefined;
    const question = this.settings.enabled ? cacheableRequest(endpoint, body, this.settings.cacheNonDeterministic) : 'caching is off';
    if (typeof question === 'string' || request.noLookup) {
      this.lookups.inc({ result: 'skip', match: '' });
      if (request.onlyIfCached) throw notCached();
      if (typeof question === 'string' || request.noStore) return this.turn(outcome('skip'));
      return this.turn(outcome('miss'), { endpoint, question, request, context });
    }
    const namespace = namespaceOf(request);
    const maxAgeMs = request.maxAgeSeconds * 1000;
    let found: LookupResponse;
    let similar: SimilarTo | undefined;
    try {
      found = await this.caching.lookup({ namespace, key: question.key, maxAgeMs, similar: undefined });
      similar = found.hit ? undefined : await this.similarTo(endpoint, question, context, request);
      if (similar) found = await this.caching.lookup({ namespace, key: question.key, maxAgeMs, similar });
    } catch (err) {
      this.log.warn({ err, requestId: context?.requestId }, 'cache lookup failed; calling the provider');
      if (request.onlyIfCached) throw notCached();
      return this.turn(outcome('skip'));
    }
    if (found.hit) {
      this.lookups.inc({ result: 'hit', match: found.match });
      return this.turn(outcome('hit', found), undefined, found.answer);
    }
    this.lookups.inc({ result: 'miss', match: '' });
    if (request.onlyIfCached) throw notCached();
    return this.turn(outcome('miss'), request.noStore ? undefined : { endpoint, question, request, context, similar });
  }

  /** The question's place among semantic entries, when semantic lookups are on and apply; none when embedding fails. */
  private async similarTo(endpoint: string, question: CacheableRequest, context: RequestContext | undefined, request: CacheRequest) {
    const { semantic } = this.settings;
    if (!semantic.enabled || !this.embed) return undefined;
    const asked = semanticQuestion(endpoint, question.body, { embeddingModel: semantic.embeddingModel, maxChars: semantic.maxTextChars });
    if (!asked) return undefined;
    let embedding: number[];
    try {
      embedding = await this.embed(asked.text, context);
    } catch (err) {
      this.log.warn({ err, requestId: context?.requestId }, 'embedding the question failed; exact lookup only');
      return undefined;
    }
    // A request may ask for closer matches, never for looser ones than the floor.
    const threshold = Math.max(request.similarityThreshold || semantic.threshold, this.thresholdFloor);
    const vector = Buffer.from(Float32Array.from(embedding).buffer);
    return { model: question.model, bucket: asked.bucket, vector, threshold } satisfies SimilarTo;
  }

  private turn(result: CacheOutcome, storeAs?: StoreAs, hit?: StoredAnswer): CacheTurn {
    return {
      outcome: result,
      hit,
      storesAnswer: storeAs !== undefined,
      store: (answer, usage, served) => {
        if (storeAs && answer.length > 0 && answer.length <= this.settings.maxEntryBytes) this.store(storeAs, { answer, usage, served });
      },
    };
  }

  private store({ endpoint, question, request, context, similar }: StoreAs, answer: StoredAnswer): void {
    const ttlSeconds = request.ttlSeconds > 0 ? Math.min(request.ttlSeconds, this.settings.maxTtlSeconds) : this.settings.ttlSeconds;
    this.caching
      .store({
        namespace: namespaceOf(request),
        key: question.key,
        endpoint,
        model: question.model,
        keyId: context?.actor?.keyId ?? '',
        answer,
        ttlSeconds,
        similar,
      })
      .catch((err: unknown) => this.log.warn({ err, requestId: context?.requestId }, 'cache store failed'));
  }
}

interface StoreAs {
  endpoint: string;
  question: CacheableRequest;
  request: CacheRequest;
  context: RequestContext | undefined;
  similar?: SimilarTo | undefined;
}

/** The namespace a request's entries live in: the key's, or a sub-namespace of it the request named. */
const namespaceOf = (request: CacheRequest) => (request.subNamespace ? `${request.namespace}/${request.subNamespace}` : request.namespace);
