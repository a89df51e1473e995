import { Counter } from 'prom-client';
import { BoundedLabel } from '../kit/metrics.js';
import { startPersistingConsumer } from '../kit/bus/persisting-consumer.js';
import { defineService } from '../kit/service.js';
import type { MeteringConfig } from './config.js';
import { meteringDatabase } from './migrations.js';
import { WRITE_LOCK, writeUsage, type PriceOf } from './writer.js';
import { startPartitionMaintenance } from './partitions.js';
import { SpendReader } from './spend.js';
import { MeteringService } from '../gen/gateway/v1/metering.js';
import type { Api } from '../kit/grpc.js';
import { ToolCallReader, writeToolCalls } from './tool-calls.js';
import { SpendRetention } from './tenant-retention.js';

/** Unpriced models counted apart; past this many (a client can name any model), the rest count as model "other". */
const UNPRICED_SERIES = 200;
/** How often metering asks audit for the teams' and customers' spend retention: a change applies to rows within this. */
const SPEND_RETENTION_EVERY_MS = 10_000;

/**
 * Durable consumers "metering" (one usage row per admitted request, priced, in
 * the usage ledger) and "metering_tools" (one row per MCP tool call).
 */
export const meteringService = defineService({
  name: 'metering',
  // Audit says whether a legal hold is placed before metering expires anything.
  dependsOn: ['audit'],
  contract: {
    service: MeteringService,
    callers: { spend: ['governance'], exportUsage: ['governance'], recentUsage: ['governance'], toolCalls: ['governance'] },
  },
  database: meteringDatabase,
  async init(ctx, config: MeteringConfig) {
    const unpriced = new Counter({
      name: 'gateway_metering_unpriced_requests_total',
      help: 'Requests recorded without a cost because their model has no price (add it under pricing.models).',
      labelNames: ['provider', 'model'],
      registers: [ctx.metrics],
    });
    const unpricedModel = new BoundedLabel(UNPRICED_SERIES);
    const price: PriceOf = (outcome) => {
      const cost = ctx.pricing.price(outcome.served, outcome.usage);
      if (cost === undefined) {
        const provider = outcome.served?.provider ?? '';
        const model = outcome.served?.model ?? '';
        unpriced.inc({ provider, model: unpricedModel.of(`${provider}/${model}`) === 'other' ? 'other' : model });
      }
      return cost;
    };
    const db = (await ctx.database()).as('metering');
    const spendRetention = new SpendRetention(db, () => ctx.clients.audit.legalHolds({}));
    const learn = () =>
      spendRetention
        .refresh()
        .catch((err: unknown) => ctx.log.warn({ err }, 'cannot learn the spend retention of teams and customers from audit; will ask again'));
    void learn();
    const learning = setInterval(() => void learn(), SPEND_RETENTION_EVERY_MS);
    learning.unref();
    const consumer = await startPersistingConsumer(ctx, {
      name: 'metering',
      db,
      filter: 'request.*',
      maxBatch: config.maxBatch,
      opening: WRITE_LOCK,
      write: (db, events) => writeUsage(db, events, price, spendRetention.keptDays),
    });
    const tools = await startPersistingConsumer(ctx, {
      name: 'metering_tools',
      db,
      filter: 'tool.*',
      maxBatch: config.maxBatch,
      oneStatement: true,
      write: writeToolCalls,
    });
    const events = await ctx.events();
    const partitions = startPartitionMaintenance(db, {
      retention: config,
      held: async () => (await ctx.clients.audit.legalHolds({})).held.length > 0,
      publish: (event) => events.emit(event),
      log: ctx.log,
    });
    const spend = new SpendReader(db);
    const toolCalls = new ToolCallReader(db);
    const api: Api<typeof MeteringService> = {
      spend: (query) => spend.spend(query),
      exportUsage: (query) => spend.exportUsage(query),
      recentUsage: (query) => spend.recentUsage(query),
      toolCalls: (query) => toolCalls.toolCalls(query),
    };
    return {
      ready: () => consumer.ready() && tools.ready(),
      stop: async () => {
        clearInterval(partitions);
        clearInterval(learning);
        await Promise.all([consumer.stop(), tools.stop()]);
      },
      api,
    };
  },
});
