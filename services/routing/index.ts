import { setTimeout as sleep } from 'node:timers/promises';
import { RoutingService } from '../gen/gateway/v1/routing.js';
import { stringsIn } from '../kit/secrets/store.js';
import { defineService } from '../kit/service.js';
import type { RoutingConfig } from './config.js';
import { LiveRouting } from './live.js';
import { secretValuesOf } from './mcp/config.js';
import { McpHub, type McpPins } from './mcp/hub.js';
import { questionEmbedder } from './question-embedder.js';
import { ResponseCache, type ResponseCacheSettings } from './response-cache.js';
import { Routing } from './service.js';
import { RoutingGuardrails } from './guardrails.js';
import type { GuardrailsConfig } from '../kit/guardrails/index.js';

const RETRY_MS = 5_000;

export const routingService = defineService({
  name: 'routing',
  dependsOn: ['governance', 'caching'],
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
      checkRoutingConfig: ['governance'],
      resolveModels: ['governance'],
    },
  },
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
    const api: Routing = new Routing(live, config.timeouts, mcp, cache, new RoutingGuardrails(guardrails, ctx.metrics, ctx.log));

    // Providers, models and MCP approvals made through the admin API come from governance, now and whenever an admin changes them.
    let stopped = false;
    const load = async () => {
      const entries = await ctx.clients.governance.getRoutingConfig({});
      await live.apply({
        providers: JSON.parse(entries.providersJson) as Record<string, unknown>,
        models: JSON.parse(entries.modelsJson) as Record<string, unknown>,
      });
      mcp.setPins(JSON.parse(entries.mcpPinsJson || '{}') as McpPins);
    };
    const loadUntilDone = async () => {
      for (let attempt = 0; !stopped; attempt++) {
        try {
          return await load();
        } catch (err) {
          if (attempt === 0) ctx.log.warn({ reason: (err as Error).message }, 'cannot load providers and models from governance yet; retrying');
          await sleep(RETRY_MS);
        }
      }
    };
    const bus = await ctx.bus();
    const changes = await bus.subscribe('admin.>', (event) => {
      if (event.payload?.$case === 'admin' && event.payload.admin.resource.startsWith('routing_')) void loadUntilDone();
    });
    await Promise.race([loadUntilDone(), sleep(2_000)]);

    ctx.opsRoute('/routing/deployments', () => ({
      deployments: live.router.catalog.allDeployments().map((d) => ({
        id: d.id,
        provider: d.provider.name,
        model: d.model,
        circuit: d.breaker.state,
        recent_failures: d.breaker.recentFailures,
        retry_at: d.breaker.retryAt ? new Date(d.breaker.retryAt).toISOString() : null,
        in_flight: d.inFlight,
        latency_ms: d.latencyMs === undefined ? null : Math.round(d.latencyMs),
      })),
    }));
    return {
      api,
      ready: () => true,
      stop: async () => {
        stopped = true;
        await changes.stop();
        await Promise.all([live.close(), mcp.close()]);
      },
    };
  },
});
