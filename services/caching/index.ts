import { CachingService } from '../gen/gateway/v1/caching.js';
import { grpcImplementation } from '../kit/grpc.js';
import { defineService } from '../kit/service.js';
import type { CachingConfig } from './config.js';
import { Caching } from './service.js';

export const cachingService = defineService<CachingConfig>({
  name: 'caching',
  async init(ctx, config) {
    const api = new Caching(config, ctx.metrics);
    ctx.grpc.add(CachingService, grpcImplementation(CachingService, api, ctx.log));
    return { api, ready: () => true, stop: async () => {} };
  },
});
