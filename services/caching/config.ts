import { z } from 'zod';

export const cachingConfig = z
  .strictObject({
    address: z.string().default('127.0.0.1:50051').describe('host:port at which other processes reach the caching gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(2_000).describe('Deadline of a call from ingress to caching.'),
    enabled: z.boolean().default(true).describe('Answer repeated identical requests from the cache.'),
    ttlSeconds: z.number().int().positive().default(3_600).describe('How long an entry may be served.'),
    maxEntries: z.number().int().positive().default(10_000).describe('Entries kept in memory; the least recently used go first.'),
    cacheNonDeterministic: z
      .boolean()
      .default(false)
      .describe('Also cache requests whose temperature is absent or above 0 (by default only temperature 0 is cached).'),
  })
  .prefault({});

export type CachingConfig = z.infer<typeof cachingConfig>;
