import { z } from 'zod';

export const meteringConfig = z
  .strictObject({
    address: z.string().default('127.0.0.1:50051').describe('host:port at which governance reaches the metering gRPC service (spend queries).'),
    callTimeoutMs: z.number().int().positive().default(30_000).describe('Deadline of a spend query from governance.'),
    maxBatch: z.number().int().positive().max(10_000).default(500).describe('Most usage records written in one transaction.'),
  })
  .prefault({});

export type MeteringConfig = z.infer<typeof meteringConfig>;
