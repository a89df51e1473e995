import { GovernanceService } from '../gen/gateway/v1/governance.js';
import { secretOf } from '../kit/secrets/store.js';
import { defineService } from '../kit/service.js';
import { adminAuthority } from './admin/authority.js';
import type { GovernanceConfig } from './config.js';
import { Holders } from './holders.js';
import { governanceDatabase } from './migrations.js';
import { QuotaBook } from './quota/book.js';
import { registerBudgetGauge } from './quota/budget-spend.js';
import { ReservationPricer } from './reservations.js';
import { Governance } from './service.js';
import { Directory } from './store/directory.js';

export const governanceService = defineService({
  name: 'governance',
  dependsOn: ['routing'],
  contract: {
    service: GovernanceService,
    callers: {
      authorize: ['ingress'],
      authorizeMany: ['ingress'],
      authorizeTools: ['ingress'],
      authorizeToolCall: ['ingress'],
      settle: ['ingress'],
      settleMany: ['ingress'],
      heartbeat: ['ingress'],
      extendReservation: ['ingress'],
    },
  },
  database: governanceDatabase,
  async init(ctx, config: GovernanceConfig) {
    const db = (await ctx.database()).as('governance');
    const bus = await ctx.bus();
    const directory = new Directory(db);
    // Subscribe before loading, so a change made meanwhile by another replica is not missed.
    const changes = await bus.subscribe('admin.>', (event) => {
      if (event.payload?.$case !== 'admin') return;
      const { resource, resourceId } = event.payload.admin;
      directory
        .table(resource)
        ?.reload(resourceId)
        .catch((err: unknown) => ctx.log.error({ err, resource, resourceId }, 'failed to reload a changed entity'));
    });
    await directory.loadAll();

    const quotas = new QuotaBook(db, config.quota, ctx.log);
    quotas.start();
    registerBudgetGauge(ctx.metrics, db, () => directory.budgets.all());
    // Asked on first use, not at start: routing may run in another process that is not up yet.
    const pricer = new ReservationPricer(ctx.pricing, config.unknownModelCostPerMillion, () => ctx.clients.routing.resolveModels({}), ctx.log);
    // Read now, so a missing secret stops start-up naming its key; read again as it rotates.
    const { clientId, clientSecret: secretRef } = config.sso.console;
    if (clientId) await secretOf(ctx.secrets, secretRef, 'governance.sso.console.clientSecret');
    const clientSecret = clientId ? ctx.secrets.get(secretRef) : undefined;
    const api = new Governance(directory, quotas, new Holders(db, config.holderSilenceMs), ctx.pricing, pricer, config, ctx.metrics, ctx.log);
    api.start();

    return {
      api,
      // The root serves the admin API with it, every service's admin routes mounted.
      admin: adminAuthority(directory, db, config, clientSecret, ctx.dataDir, ctx.log),
      ready: () => bus.connected(),
      stop: async () => {
        await changes.stop();
        await api.stop();
        // Leases go back, so other replicas can use what this one held.
        await quotas.stop();
      },
    };
  },
});
