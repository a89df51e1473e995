import { z } from 'zod';

export const auditConfig = z
  .strictObject({
    maxBatch: z.number().int().positive().max(10_000).default(500).describe('Most events written to the audit log in one transaction.'),
  })
  .prefault({});

export type AuditConfig = z.infer<typeof auditConfig>;
