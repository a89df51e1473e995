import { GovernanceService } from '../gen/gateway/v1/governance.js';
import { migrate } from '../kit/db/migrate.js';
import { grpcImplementation } from '../kit/grpc.js';
import { closeGracefully } from '../kit/http.js';
import { defineService } from '../kit/service.js';
import { buildAdminApi, resolveAdminToken } from './admin.js';
import type { GovernanceConfig } from './config.js';
import { KeyStore } from './keys.js';
import { governanceMigrations } from './migrations.js';
import { Governance } from './service.js';

export const governanceService = defineService<GovernanceConfig>({
  name: 'governance',
  async init(ctx, config) {
    const db = await ctx.database();
    await migrate(db, 'governance', governanceMigrations, ctx.log);
    const bus = await ctx.bus();
    const keys = new KeyStore(db);
    // Subscribe before loading, so a change made meanwhile by another replica is not missed.
    const changes = await bus.subscribe('admin.virtual_key.*', (event) => {
      if (event.payload?.$case !== 'admin') return;
      keys.reload(event.payload.admin.resourceId).catch((err: unknown) => ctx.log.error({ err }, 'failed to reload a virtual key'));
    });
    await keys.loadAll();

    const api = new Governance(keys, ctx.metrics);
    ctx.grpc.add(GovernanceService, grpcImplementation(GovernanceService, api, ctx.log));

    const admin = buildAdminApi({
      keys,
      events: await ctx.events(),
      adminToken: resolveAdminToken(config.adminToken, ctx.dataDir, ctx.log),
      log: ctx.log,
    });
    const adminUrl = await admin.listen({ host: ctx.host, port: config.adminPort });
    ctx.log.info({ url: adminUrl }, 'admin API listening');

    return {
      api,
      endpoints: { admin: adminUrl },
      ready: () => bus.connected(),
      stop: async () => {
        await closeGracefully(admin);
        await changes.stop();
      },
    };
  },
});
