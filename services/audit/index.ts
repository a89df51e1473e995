import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { migrate } from '../kit/db/migrate.js';
import { defineService } from '../kit/service.js';
import type { AuditConfig } from './config.js';
import { auditMigrations } from './migrations.js';
import { AuditService } from '../gen/gateway/v1/audit.js';
import { grpcImplementation } from '../kit/grpc.js';
import { chainUnhashedRows } from './chain.js';
import { AuditReader } from './query.js';
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
    const consumer = await startPersistingConsumer(ctx, { name: 'audit', migrations: auditMigrations, filter: '>', maxBatch: config.maxBatch, write: writeAuditEvents });
    if (config.signingKey) await ctx.secrets.prepare([config.signingKey]);
    const api = new AuditReader(db, config.signingKey ? ctx.secrets.get(config.signingKey) : undefined);
    ctx.grpc.add(AuditService, grpcImplementation(AuditService, api, ctx.log));
    return { ...consumer, api };
  },
});
