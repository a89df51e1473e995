import { z } from 'zod';
import { siemConfig } from './siem/config.js';
import { defaultAddress } from '../kit/ports.js';

export const auditConfig = z
  .strictObject({
    address: z.string().default(defaultAddress('audit')).describe('host:port at which governance reaches the audit gRPC service (audit queries).'),
    callTimeoutMs: z.number().int().positive().default(30_000).describe('Deadline of an audit query from governance.'),
    maxBatch: z.number().int().positive().max(10_000).default(500).describe('Most events written to the audit log in one transaction.'),
    sinks: siemConfig.describe('SIEM destinations: each its own durable consumer (syslog, Splunk HEC, webhook), in OCSF, CEF or native JSON.'),
    retention: z
      .strictObject({
        days: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe(
            'Each month of the log is archived and dropped once its last day is older than this many days, never sooner than database.retentionFloorDays (0: keep forever).',
          ),
        classes: z
          .strictObject({
            toolArguments: z
              .number()
              .int()
              .min(0)
              .default(0)
              .describe(
                "Days tool calls' arguments and results and code mode's programs and results are kept (content logging), where the caller's team or customer has no retention of its own (PUT /admin/retention); never fewer than database.retentionFloorDays (0: kept).",
              ),
          })
          .prefault({})
          .describe('Default retention of each class of content kept beside the chain, which expires without the rows that reference it (docs/retention.md).'),
        archiveDir: z.string().default('').describe('Folder for archive files. Empty: <dataDir>/audit-archive.'),
        checkIntervalMinutes: z.number().positive().default(60).describe('How often months are made ahead and expired ones looked for.'),
      })
      .prefault({})
      .describe(
        'Months past the retention period are exported to an NDJSON file with a signed checkpoint of their last row, then dropped whole; the archive is recorded in the chain itself (docs/audit.md).',
      ),
    chainKey: z
      .string()
      .default('')
      .describe(
        "Key of the audit chain's HMAC (secret, at least 32 characters; or an env:/file:/vault: reference), never stored in the database. Empty: a key generated into <dataDir>/audit-chain.key (mode 0600); audit replicas on several hosts need this set, to one key.",
      ),
    previousChainKeys: z
      .array(z.string())
      .default([])
      .describe('Chain keys used before audit.chainKey (secrets or references): verify needs them for rows keyed before a rotation.'),
    checkpoints: z
      .strictObject({
        intervalSeconds: z
          .number()
          .int()
          .positive()
          .default(300)
          .describe(
            "How often the chain's head is checkpointed (when it moved): appended to the checkpoint file and sent to the SIEM sinks as audit.checkpoint.",
          ),
        dir: z
          .string()
          .default('')
          .describe("Folder of checkpoints.ndjson, which gateway audit verify reads. Empty: <dataDir>/audit-checkpoints. Keep it off the database's host."),
      })
      .prefault({})
      .describe("Signed checkpoints of the chain's head, kept outside the database: verify catches a log rolled back or rewritten after one."),
    signingKey: z
      .string()
      .default('')
      .describe('Ed25519 private key (PEM, secret; or a env:/file:/vault: reference) that signs exported chain heads (gateway audit head).'),
  })
  .prefault({});

export type AuditConfig = z.infer<typeof auditConfig>;
