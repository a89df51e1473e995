import { z } from 'zod';

export const governanceConfig = z
  .strictObject({
    address: z
      .string()
      .default('127.0.0.1:50051')
      .describe('host:port at which other processes reach the governance gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(5_000).describe('Deadline of a call from ingress to governance.'),
    adminPort: z.number().int().min(0).max(65_535).default(8081).describe('Port of the admin REST API.'),
    adminToken: z
      .string()
      .default('')
      .describe('Bearer token for the admin API (secret). Empty: one is generated into <dataDir>/admin-token on first start.'),
  })
  .prefault({});

export type GovernanceConfig = z.infer<typeof governanceConfig>;
