import { deadLetters } from '../kit/bus/dead-letters.js';
import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { EventType } from '../kit/events.js';
import { defineService } from '../kit/service.js';
import type { AuditConfig } from './config.js';
import { auditDatabase } from './migrations.js';
import { AuditService } from '../gen/gateway/v1/audit.js';
import { join } from 'node:path';
import { stringsIn } from '../kit/secrets/store.js';
import { LOCK_CHAIN } from './chain.js';
import { startCheckpoints } from './checkpoints.js';
import { ensureKeyed, loadChainKeys } from './keys.js';
import { startSinks } from './siem/index.js';
import { startRetention } from './retention.js';
import { AuditReader } from './query.js';
import { RetentionAdmin } from './retention-admin.js';
import type { Api } from '../kit/grpc.js';
import { verifyWithCheckpoints } from './verify.js';
import { appendToChain } from './writer.js';

/** Durable consumer "audit": every event, appended to the hash-chained audit log. */
export const auditService = defineService({
  name: 'audit',
  dependsOn: [],
  contract: {
    service: AuditService,
    callers: {
      query: ['governance'],
      export: ['governance'],
      head: ['governance'],
      hashValue: ['governance'],
      verify: ['governance'],
      retention: ['governance'],
      setRetention: ['governance'],
      setLegalHold: ['governance'],
      legalHolds: ['metering'],
    },
  },
  database: auditDatabase,
  async init(ctx, { storageHashKey, ...config }: AuditConfig & { storageHashKey: string | undefined }) {
    const databases = await ctx.database();
    const writer = databases.as('auditWriter');
    const keys = await loadChainKeys(config, ctx.dataDir, ctx.secrets, true);
    if (await writer.transaction((tx) => ensureKeyed(tx, keys))) ctx.log.info({ keyId: keys.current.id }, 'audit chain keyed from here on');
    const consumer = await startPersistingConsumer(ctx, {
      name: 'audit',
      db: writer,
      filter: '>',
      maxBatch: config.maxBatch,
      opening: LOCK_CHAIN,
      // A checkpoint describes the log; chained into it, the head would move with every checkpoint.
      write: (tx, events) =>
        appendToChain(
          tx,
          events.filter((e) => e.type !== EventType.auditCheckpoint),
          keys.current,
          config.retention.classes.toolArguments,
        ),
    });
    // Each SIEM sink is its own durable consumer; its tokens, keys and CA may be secret references.
    await ctx.secrets.prepare(stringsIn(config.sinks));
    const siem = await startSinks(await ctx.bus(), config.sinks, {
      log: ctx.log.child({ component: 'siem' }),
      metrics: ctx.metrics,
      secrets: ctx.secrets,
      deadLetters: deadLetters(writer, ctx.metrics, ctx.log),
    });
    const events = await ctx.events();
    const checkpointsDir = config.checkpoints.dir || join(ctx.dataDir, 'audit-checkpoints');
    const archiveDir = config.retention.archiveDir || join(ctx.dataDir, 'audit-archive');
    const checkpoints = startCheckpoints(
      writer,
      keys,
      { dir: checkpointsDir, intervalSeconds: config.checkpoints.intervalSeconds },
      (e) => events.emit(e),
      ctx.log,
    );
    const references = [config.signingKey, storageHashKey].filter((reference) => reference !== undefined);
    await ctx.secrets.prepare(references);
    const secret = (reference: string | undefined) => (reference ? ctx.secrets.get(reference) : undefined);
    const reader = new AuditReader(writer, secret(config.signingKey), secret(storageHashKey), () =>
      verifyWithCheckpoints(writer, keys, checkpointsDir, archiveDir),
    );
    const maintainer = databases.as('auditMaintainer');
    const retentionAdmin = new RetentionAdmin(maintainer, config.retention.classes);
    const api: Api<typeof AuditService> = {
      query: (q) => reader.query(q),
      export: (q) => reader.export(q),
      head: () => reader.head(),
      hashValue: (r) => reader.hashValue(r),
      verify: () => reader.verify(),
      retention: () => retentionAdmin.retention(),
      setRetention: (r) => retentionAdmin.setRetention(r),
      setLegalHold: (r) => retentionAdmin.setLegalHold(r),
      legalHolds: () => retentionAdmin.legalHolds(),
    };
    const retention = startRetention(maintainer, keys.current, { ...config.retention, dir: archiveDir }, ctx.log);
    return {
      api,
      ready: consumer.ready,
      stop: async () => {
        clearInterval(retention);
        await Promise.all([consumer.stop(), siem.stop()]);
        await checkpoints.stop();
      },
    };
  },
});
