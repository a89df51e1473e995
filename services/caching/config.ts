import { z } from 'zod';

export const cachingConfig = z
  .strictObject({
    address: z.string().default('127.0.0.1:50051').describe('host:port at which other processes reach the caching gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(2_000).describe('Deadline of a call from ingress to caching.'),
    enabled: z.boolean().default(true).describe('Answer repeated requests from the cache.'),
    ttlSeconds: z.number().int().positive().default(3_600).describe('How long an entry may be served, unless the request sets x-gateway-cache-ttl.'),
    maxTtlSeconds: z.number().int().positive().default(7 * 86_400).describe('Longest lifetime a request may ask for with x-gateway-cache-ttl.'),
    maxEntries: z.number().int().positive().default(100_000).describe('Entries each replica keeps in memory; the least recently used go first.'),
    maxMemoryMb: z.number().positive().default(512).describe('Memory for entries (answers and embeddings) per replica; the least recently used go first.'),
    maxEntryBytes: z.number().int().positive().default(1_048_576).describe('Answers larger than this are not cached.'),
    syncIntervalMs: z.number().int().positive().default(1_000).describe('How often a replica picks up entries and purges made by other replicas (through the shared database).'),
    cacheNonDeterministic: z
      .boolean()
      .default(false)
      .describe('Also cache requests whose temperature is absent or above 0 (by default only temperature 0, and embeddings, are cached).'),
  })
  .prefault({});

export type CachingConfig = z.infer<typeof cachingConfig>;
