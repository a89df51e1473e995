import { Counter } from 'prom-client';
import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { defineService } from '../kit/service.js';
import type { MeteringConfig } from './config.js';
import { meteringMigrations } from './migrations.js';
import { writeUsage } from './writer.js';
import { SpendReader } from './spend.js';
import { MeteringService } from '../gen/gateway/v1/metering.js';
import { grpcImplementation } from '../kit/grpc.js';

/** Durable consumer "metering": one usage row per admitted request, priced, in the usage ledger. */
export const meteringService = defineService<MeteringConfig>({
  name: 'metering',
  async init(ctx, config) {
    const unpriced = new Counter({
      name: 'gateway_metering_unpriced_requests_total',
      help: 'Requests recorded without a cost because their model has no price (add it under pricing.models).',
      labelNames: ['provider', 'model'],
      registers: [ctx.metrics],
    });
    const price = (outcome: Parameters<Parameters<typeof writeUsage>[2]>[0]) => {
      const cost = ctx.pricing.cost(outcome.served, outcome.usage);
      if (cost === undefined) unpriced.inc({ provider: outcome.served?.provider ?? '', model: outcome.served?.model ?? '' });
      return cost;
    };
    const consumer = await startPersistingConsumer(ctx, {
      name: 'metering',
      migrations: meteringMigrations,
      filter: 'request.*',
      maxBatch: config.maxBatch,
      write: (tx, events) => writeUsage(tx, events, price),
    });
    const api = new SpendReader(await ctx.database());
    ctx.grpc.add(MeteringService, grpcImplementation(MeteringService, api, ctx.log));
    return { ...consumer, api };
  },
});
