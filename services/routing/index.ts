import { setTimeout as sleep } from 'node:timers/promises';
import { RoutingService } from '../gen/gateway/v1/routing.js';
import { stringsIn } from '../kit/secrets/store.js';
import { defineService } from '../kit/service.js';
import { AdminEntryStore } from './admin-entries.js';
import { Reloader } from '../kit/reloader.js';
import { healthView } from './deployment-health.js';
import type { RoutingConfig } from './config.js';
import { LiveRouting } from './live.js';
import { secretValuesOf } from './mcp/config.js';
import { McpHub } from './mcp/hub.js';
import { routingDatabase } from './migrations.js';
import { questionEmbedder } from './question-embedder.js';
import { ResponseCache, type ResponseCacheSettings } from './response-cache.js';
import { ResponsesState } from './responses-state.js';
import { FileStore } from './files.js';
import { BatchStore } from './batches.js';
import { ProviderBatches } from './provider-batches.js';
import { Routing } from './service.js';
import { RoutingGuardrails } from './guardrails.js';
import type { GuardrailsConfig } from '../kit/guardrails/index.js';

export const routingService = defineService({
  name: 'routing',
  dependsOn: ['caching'],
  contract: {
    service: RoutingService,
    callers: {
      complete: ['ingress'],
      completeStream: ['ingress'],
      listModels: ['ingress'],
      callTool: ['ingress'],
      listTools: ['ingress', 'governance'],
      listMcpServers: ['governance'],
      startMcpAuthorization: ['governance'],
      completeMcpAuthorization: ['governance'],
      listAdminEntries: ['governance'],
      putAdminEntry: ['governance'],
      removeAdminEntry: ['governance'],
      storageEntries: ['ingress'],
      resolveModels: ['governance'],
      deploymentHealth: ['governance'],
      storedResponse: ['ingress'],
      files: ['ingress'],
      batches: ['ingress'],
      batchWork: ['ingress'],
      passthroughProvider: ['ingress'],
    },
  },
  database: routingDatabase,
  async init(ctx, { cache: cacheSettings, guardrails, ...config }: RoutingConfig & { cache: ResponseCacheSettings; guardrails: GuardrailsConfig }) {
    // Secret references in provider entries are read now (a missing one stops start-up) and kept current.
    await ctx.secrets.prepare(stringsIn(config.providers));
    const live = new LiveRouting(config, ctx.secrets, ctx.metrics, ctx.log);
    ctx.log.info({ providers: Object.keys(config.providers), models: Object.keys(config.models) }, 'providers configured');
    await ctx.secrets.prepare(stringsIn(secretValuesOf(config.mcp)));
    const mcp = new McpHub(config.mcp, ctx.secrets, ctx.log.child({ component: 'mcp' }), ctx.metrics);
    mcp.start();
    const { semantic } = cacheSettings;
    const embed = semantic.enabled ? questionEmbedder(semantic.embeddingModel, (request) => api.complete(request), await ctx.events()) : undefined;
    const cache = new ResponseCache(cacheSettings, ctx.clients.caching, embed, ctx.metrics, ctx.log);
    const database = (await ctx.database()).as('routing');
    const guards = new RoutingGuardrails(guardrails, ctx.metrics, ctx.log);
    const adminEntries = new AdminEntryStore(database, live, guards);
    const responses = new ResponsesState(database, config.responses, ctx.log.child({ component: 'responses' }));
    const files = new FileStore(database);
    const batches = new BatchStore(database, files, config.batches, new ProviderBatches(database, live, guards, config.batches));
    const api: Routing = new Routing(live, config.timeouts, mcp, cache, guards, adminEntries, responses, files, batches);
    const purge = () => {
      void responses.purge().catch((err: unknown) => ctx.log.warn({ err }, 'could not purge expired responses'));
      void files.purge().catch((err: unknown) => ctx.log.warn({ err }, 'could not purge expired files'));
    };
    purge();
    const purging = setInterval(purge, 3_600_000).unref();

    // Providers, models, MCP approvals and guardrails made through the admin API: read from routing's table now, and
    // again by every replica (the one that stored a change too) when it hears the admin event the change is recorded as.
    const applied = new Reloader(async () => {
      const stored = await adminEntries.load();
      await live.apply(stored.entries);
      mcp.setPins(stored.pins);
      guards.apply(stored.guardrails);
    }, ctx.log);
    const bus = await ctx.bus();
    const changes = await bus.subscribe('admin.>', (event) => {
      if (event.payload?.$case !== 'admin') return;
      const { resource } = event.payload.admin;
      if (resource.startsWith('routing_') || resource.startsWith('guardrail_')) void applied.reload();
    });
    // An entry that cannot be applied yet (its secret unreadable) does not hold up the config file's providers.
    await Promise.race([applied.reload(), sleep(2_000)]);

    ctx.opsRoute('/routing/deployments', async () => ({ deployments: (await api.deploymentHealth({})).deployments.map(healthView) }));
    return {
      api,
      ready: () => true,
      stop: async () => {
        clearInterval(purging);
        applied.stop();
        await changes.stop();
        await Promise.all([live.close(), mcp.close()]);
      },
    };
  },
});
