import { closeGracefully } from '../kit/http.js';
import { defineService } from '../kit/service.js';
import { CachePolicyMemo } from './cache.js';
import type { IngressConfig } from './config.js';
import { OutcomeRecorder } from './outcome.js';
import { Authorizations, Settlements } from './pipeline.js';
import { buildIngressApp } from './server.js';

export const ingressService = defineService<IngressConfig>({
  name: 'ingress',
  async init(ctx, config) {
    const events = await ctx.events();
    const recorder = new OutcomeRecorder(events, ctx.metrics, ctx.log, config.emitAttempts);
    const settlements = new Settlements(ctx.clients, ctx.log);
    const app = buildIngressApp(config, {
      clients: ctx.clients,
      recorder,
      events,
      emitReceived: config.emitReceived,
      log: ctx.log,
      agent: config.agent,
      authorizations: new Authorizations(ctx.clients, settlements),
      settlements,
      cachePolicy: new CachePolicyMemo(ctx.metrics),
    });
    const url = await app.listen({ host: ctx.host, port: config.port });
    ctx.log.info({ url }, 'OpenAI-compatible API listening');
    return {
      endpoints: { http: url },
      ready: () => true,
      stop: async () => {
        await closeGracefully(app);
        // Settles still lingering go now, while governance's client is open.
        settlements.flush();
      },
    };
  },
});
