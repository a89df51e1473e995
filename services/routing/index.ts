import { RoutingService } from '../gen/gateway/v1/routing.js';
import { grpcImplementation } from '../kit/grpc.js';
import { defineService } from '../kit/service.js';
import type { RoutingConfig } from './config.js';
import { stringsIn } from '../kit/secrets/store.js';
import { createAdapter } from './providers/registry.js';
import type { ProviderAdapter } from './providers/types.js';
import { ModelCatalog } from './router/catalog.js';
import { Router } from './router/router.js';
import { Routing } from './service.js';

export const routingService = defineService<RoutingConfig>({
  name: 'routing',
  async init(ctx, config) {
    // Secret references in provider entries are read now (a missing one stops start-up) and kept current.
    await ctx.secrets.prepare(stringsIn(config.providers));
    const providers = new Map<string, ProviderAdapter>();
    for (const [name, providerConfig] of Object.entries(config.providers)) {
      providers.set(name, createAdapter(name, providerConfig, config.timeouts, ctx.secrets));
    }
    const catalog = new ModelCatalog(config, providers);
    const router = new Router(catalog, config.retry, ctx.metrics);
    ctx.log.info({ providers: [...providers.keys()], models: Object.keys(config.models) }, 'providers configured');
    const api = new Routing(router, config.timeouts);
    ctx.grpc.add(RoutingService, grpcImplementation(RoutingService, api, ctx.log));
    // Deployment health for operators, next to /metrics on the ops port.
    ctx.opsRoute('/routing/deployments', () => ({
      deployments: catalog.allDeployments().map((d) => ({
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
        await Promise.all([...providers.values()].map((p) => p.close()));
      },
    };
  },
});
