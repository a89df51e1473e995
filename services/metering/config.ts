import { z } from 'zod';
import { defaultAddress } from '../kit/ports.js';

export const meteringConfig = z
  .strictObject({
    address: z.string().default(defaultAddress('metering')).describe('host:port at which governance reaches the metering gRPC service (spend queries).'),
    callTimeoutMs: z.number().int().positive().default(30_000).describe('Deadline of a spend query from governance.'),
    maxBatch: z.number().int().positive().max(10_000).default(500).describe('Most usage records written in one transaction.'),
    retentionDays: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe('Days usage and tool-call rows are kept (0: forever); a monthly partition is dropped whole once its last day is that old.'),
    rollupRetentionDays: z
      .strictObject({
        hourly: z
          .number()
          .int()
          .nonnegative()
          .default(0)
          .describe('Days the hourly spend rollup is kept (0: forever); reports read it only at the hour edges of a range.'),
        daily: z
          .number()
          .int()
          .nonnegative()
          .default(0)
          .describe('Days the daily spend rollup, which spend reports over months and years read, is kept (0: forever).'),
      })
      .prefault({})
      .describe('Retention of the spend rollups, which outlive the usage rows (docs/retention.md); never below database.retentionFloorDays.'),
  })
  .prefault({});

export type MeteringConfig = z.infer<typeof meteringConfig>;
