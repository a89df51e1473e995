import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { defineService } from '../kit/service.js';
import type { MeteringConfig } from './config.js';
import { meteringMigrations } from './migrations.js';
import { writeUsage } from './writer.js';

/** Durable consumer "metering": one usage row per admitted request, in the usage ledger. */
export const meteringService = defineService<MeteringConfig>({
  name: 'metering',
  init: (ctx, config) =>
    startPersistingConsumer(ctx, { name: 'metering', migrations: meteringMigrations, filter: 'request.*', maxBatch: config.maxBatch, write: writeUsage }),
});
