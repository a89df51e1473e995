import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { migrate } from '../kit/db/migrate.js';
import { defineService } from '../kit/service.js';
import type { AuditConfig } from './config.js';
import { auditMigrations } from './migrations.js';
import { chainUnhashedRows } from './chain.js';
import { writeAuditEvents } from './writer.js';

/** Durable consumer "audit": every event, appended to the hash-chained audit log. */
export const auditService = defineService<AuditConfig>({
  name: 'audit',
  async init(ctx, config) {
    const db = await ctx.database();
    await migrate(db, 'audit', auditMigrations, ctx.log);
    // Before any new row: rows of an older version's log join the chain first.
    const chained = await db.transaction((tx) => chainUnhashedRows(tx));
    if (chained > 0) ctx.log.info({ rows: chained }, 'chained audit rows written before the hash chain existed');
    return startPersistingConsumer(ctx, { name: 'audit', migrations: auditMigrations, filter: '>', maxBatch: config.maxBatch, write: writeAuditEvents });
  },
});
