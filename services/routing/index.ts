import { RoutingService } from '../gen/gateway/v1/routing.js';
import { grpcImplementation } from '../kit/grpc.js';
import { defineService } from '../kit/service.js';
import type { ProviderConfig, RoutingConfig } from './config.js';
import { MockProvider } from './providers/mock.js';
import { OpenAICompatibleProvider } from './providers/openai-compatible.js';
import type { Provider } from './providers/types.js';
import { Routing } from './service.js';

function createProvider(name: string, config: ProviderConfig, timeouts: RoutingConfig['timeouts']): Provider {
  switch (config.type) {
    case 'mock':
      return new MockProvider(name, config);
    case 'openai':
      return new OpenAICompatibleProvider(name, config, timeouts);
  }
}

export const routingService = defineService<RoutingConfig>({
  name: 'routing',
  async init(ctx, config) {
    const providers = new Map<string, Provider>();
    for (const [name, providerConfig] of Object.entries(config.providers)) {
      providers.set(name, createProvider(name, providerConfig, config.timeouts));
    }
    ctx.log.info({ providers: [...providers.keys()] }, 'providers configured');
    const api = new Routing(providers, ctx.metrics);
    ctx.grpc.add(RoutingService, grpcImplementation(RoutingService, api, ctx.log));
    return {
      api,
      ready: () => true,
      stop: async () => {
        await Promise.all([...providers.values()].map((p) => p.close()));
      },
    };
  },
});
