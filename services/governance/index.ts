import { GovernanceService } from '../gen/gateway/v1/governance.js';
import { closeGracefully } from '../kit/http.js';
import { defineService } from '../kit/service.js';
import { resolveOwnerToken, TokenAuthenticator } from './admin/principals.js';
import { buildAdminApi } from './admin/server.js';
import { looksLikeJwt, OidcAuthenticator } from './admin/sso.js';
import type { GovernanceConfig } from './config.js';
import { Holders } from './holders.js';
import { governanceDatabase } from './migrations.js';
import { QuotaBook } from './quota/book.js';
import { ReservationPricer } from './reservations.js';
import { Governance } from './service.js';
import { Directory } from './store/directory.js';

export const governanceService = defineService<GovernanceConfig>({
  name: 'governance',
  database: governanceDatabase,
  async init(ctx, config) {
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
    // Asked on first use, once every service of this process has started: in one process, routing is then the object itself.
    const pricer = new ReservationPricer(ctx.pricing, config.unknownModelCostPerMillion, () => ctx.clients.routing.resolveModels({}), ctx.log);
    const api = new Governance(directory, quotas, new Holders(db, config.holderSilenceMs), ctx.pricing, pricer, config, ctx.metrics, ctx.log);
    api.start();
    ctx.grpc.add(GovernanceService, api, ctx.log, {
      authorize: ['ingress'],
      authorizeMany: ['ingress'],
      authorizeTools: ['ingress'],
      authorizeToolCall: ['ingress'],
      settle: ['ingress'],
      settleMany: ['ingress'],
      heartbeat: ['ingress'],
      getRoutingConfig: ['routing'],
      extendReservation: ['ingress'],
    });

    const tokens = new TokenAuthenticator(config, resolveOwnerToken(config, ctx.dataDir, ctx.log));
    const sso = new OidcAuthenticator(config.sso, ctx.log);
    const authenticate = async (token: string) => (sso.enabled && looksLikeJwt(token) ? sso.authenticate(token) : tokens.find(token));
    const checkRouting = async (providers: Record<string, unknown>, models: Record<string, unknown>) =>
      (await ctx.clients.routing.checkRoutingConfig({ providersJson: JSON.stringify(providers), modelsJson: JSON.stringify(models) })).problems;
    const admin = await buildAdminApi({ directory, events: await ctx.events(), db, authenticate, checkRouting, clients: ctx.clients, log: ctx.log });
    const adminUrl = await admin.listen({ host: ctx.host, port: config.adminPort });
    ctx.log.info({ url: adminUrl }, 'admin API listening (OpenAPI at /docs)');

    return {
      api,
      endpoints: { admin: adminUrl },
      ready: () => bus.connected(),
      stop: async () => {
        await closeGracefully(admin);
        await changes.stop();
        await api.stop();
        // Leases go back, so other replicas can use what this one held.
        await quotas.stop();
      },
    };
  },
});
