import { closeGracefully } from '../kit/http.js';
import { defineService } from '../kit/service.js';
import { CachePolicyMemo } from './cache-policy.js';
import type { IngressConfig } from './config.js';
import { Holder } from './holder.js';
import { OutcomeRecorder } from './outcome.js';
import { PromptCounting } from './prompt-size.js';
import { Authorizations, Settlements } from './pipeline.js';
import { buildIngressApp } from './server.js';

/**
 * Connections the kernel may hold for ingress before it accepts them. Node.js
 * asks for 511; a reconnect storm (every client of a restarted load balancer)
 * overflowed that, and each dropped connection waited 1–7 s for its SYN to be
 * sent again. The kernel caps this at net.core.somaxconn, as it does for Go's
 * listeners, which ask for that.
 */
const LISTEN_BACKLOG = 65_535;

export const ingressService = defineService<IngressConfig>({
  name: 'ingress',
  async init(ctx, config) {
    const events = await ctx.events();
    const recorder = new OutcomeRecorder(events, ctx.metrics, ctx.log, config.emitAttempts);
    const settlements = new Settlements(ctx.clients, ctx.log);
    const holder = ctx.clients.inProcess('governance') ? undefined : new Holder(ctx.clients.governance, ctx.log);
    holder?.start();
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
      promptCounting: new PromptCounting(),
      holder,
    });
    const url = await app.listen({ host: ctx.host, port: config.port, backlog: LISTEN_BACKLOG });
    ctx.log.info({ url }, 'OpenAI-compatible API listening');
    return {
      endpoints: { http: url },
      ready: () => true,
      stop: async () => {
        await closeGracefully(app);
        // Settles still lingering go now, while governance's client is open.
        settlements.flush();
        holder?.stop();
      },
    };
  },
});
