import { z } from 'zod';

export const meteringConfig = z
  .strictObject({
    maxBatch: z.number().int().positive().max(10_000).default(500).describe('Most usage records written in one transaction.'),
  })
  .prefault({});

export type MeteringConfig = z.infer<typeof meteringConfig>;
