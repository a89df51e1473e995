import { z } from 'zod';
import { defaultAddress } from '../kit/ports.js';

export const cachingConfig = z
  .strictObject({
    address: z.string().default(defaultAddress('caching')).describe('host:port at which other processes reach the caching gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(2_000).describe('Deadline of a call from routing to caching.'),
    enabled: z.boolean().default(true).describe('Answer repeated requests from the cache.'),
    ttlSeconds: z.number().int().positive().default(3_600).describe('How long an entry may be served, unless the request sets x-gateway-cache-ttl.'),
    maxTtlSeconds: z
      .number()
      .int()
      .positive()
      .default(7 * 86_400)
      .describe('Longest lifetime a request may ask for with x-gateway-cache-ttl.'),
    maxEntries: z.number().int().positive().default(100_000).describe('Entries each replica keeps in memory; the least recently used go first.'),
    maxMemoryMb: z.number().positive().default(512).describe('Memory for entries (answers and embeddings) per replica; the least recently used go first.'),
    maxEntryBytes: z.number().int().positive().default(1_048_576).describe('Answers larger than this are not cached.'),
    syncIntervalMs: z
      .number()
      .int()
      .positive()
      .default(1_000)
      .describe('How often a replica picks up entries and purges made by other replicas (through the shared database).'),
    cacheNonDeterministic: z
      .boolean()
      .default(false)
      .describe('Also cache requests whose temperature is absent or above 0 (by default only temperature 0, and embeddings, are cached).'),
    semantic: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Also answer a question close in meaning to one answered before after the same conversation (same namespace, model, parameters, tools, system prompt and earlier turns).',
          ),
        embeddingModel: z
          .string()
          .default('')
          .describe(
            'Model that embeds questions, as clients name models (e.g. openai/text-embedding-3-small); routing calls it like any request, so it gets retries and is metered.',
          ),
        threshold: z
          .number()
          .gt(0)
          .max(1)
          .default(0.95)
          .describe('Least cosine similarity for a semantic hit; a request may ask for another with x-gateway-cache-threshold, down to minThreshold.'),
        minThreshold: z
          .number()
          .gt(0)
          .max(1)
          .optional()
          .describe(
            'Least similarity any request gets, whatever its x-gateway-cache-threshold asks (a lower value is taken as this one); default: threshold, so requests may only raise it.',
          ),
        maxTextChars: z.number().int().positive().default(8_000).describe('Longest text embedded (the last user turn); the start of a longer one is cut.'),
        hnswFrom: z
          .number()
          .int()
          .min(2)
          .default(512)
          .describe(
            'Vectors in one bucket from which searches use an HNSW graph instead of an exact scan (crossover measured with npm run bench:cache; see docs/caching.md).',
          ),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.semantic.minThreshold !== undefined && config.semantic.minThreshold > config.semantic.threshold) {
      ctx.addIssue({
        code: 'custom',
        path: ['semantic', 'minThreshold'],
        message: `at most caching.semantic.threshold (${config.semantic.threshold}): the floor of what requests may ask for`,
      });
    }
    if (config.semantic.enabled && !config.semantic.embeddingModel) {
      ctx.addIssue({
        code: 'custom',
        path: ['semantic', 'embeddingModel'],
        message: 'required when caching.semantic.enabled is true: the model that embeds questions, e.g. openai/text-embedding-3-small',
      });
    }
  })
  .prefault({});

export type CachingConfig = z.infer<typeof cachingConfig>;
