import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { defineService } from '../kit/service.js';
import type { AuditConfig } from './config.js';
import { auditMigrations } from './migrations.js';
import { writeAuditEvents } from './writer.js';

/** Durable consumer "audit": every event, appended to the audit log. */
export const auditService = defineService<AuditConfig>({
  name: 'audit',
  init: (ctx, config) =>
    startPersistingConsumer(ctx, { name: 'audit', migrations: auditMigrations, filter: '>', maxBatch: config.maxBatch, write: writeAuditEvents }),
});
