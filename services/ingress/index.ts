import { closeGracefully } from '../kit/http.js';
import { defineService } from '../kit/service.js';
import { SandboxPool } from './code-mode/pool.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardrailsConfig } from '../kit/guardrails/index.js';
import { BUS_USE } from '../kit/bus/nats-permissions.js';
import { Reloader } from '../kit/reloader.js';
import { IngressStoragePolicies } from './storage-policies.js';
import type { IngressConfig } from './config.js';
import { Holder } from './holder.js';
import { OutcomeRecorder } from './outcome.js';
import { PromptCounting } from '../kit/prompt-size.js';
import { Authorizations, Settlements } from './admission.js';
import type { PipelineDeps } from './pipeline.js';
import { buildIngressApp } from './server.js';
import { BatchLineKeys, BatchRunner } from './batch-runner.js';
import { ProviderBatchLines } from './provider-batch-lines.js';

/**
 * Connections the kernel may hold for ingress before it accepts them: Node.js's
 * 511 overflows in a reconnect storm, and each dropped connection waits seconds
 * to try again. The kernel caps it at net.core.somaxconn, as for Go's listeners.
 */
const LISTEN_BACKLOG = 65_535;

export const ingressService = defineService({
  name: 'ingress',
  dependsOn: ['governance', 'routing'],
  async init(ctx, { guardrails, ...config }: IngressConfig & { guardrails: GuardrailsConfig; consoleOrigins: string[] }) {
    const events = await ctx.events();
    const { hashKey } = guardrails.storage;
    if (hashKey) await ctx.secrets.prepare([hashKey]);
    const storage = new IngressStoragePolicies(guardrails, hashKey ? ctx.secrets.get(hashKey) : undefined, ctx.log);
    // Storage policies of the admin API, kept by routing: read now, and again by every replica when it hears one
    // change. Heard before the first read, so a change made meanwhile is not missed.
    const stored = new Reloader(async () => storage.apply((await ctx.clients.routing.storageEntries({})).entries), ctx.log);
    const bus = await ctx.bus();
    const changes = await Promise.all((BUS_USE.ingress.broadcasts ?? []).map((filter) => bus.subscribe(filter, () => void stored.reload())));
    // Routing unreachable for now (another process starting): nothing is kept, and ingress is not ready, until the read succeeds.
    await Promise.race([stored.reload(), sleep(2_000)]);
    const recorder = new OutcomeRecorder(events, ctx.metrics, ctx.log, config.emitAttempts, storage);
    const settlements = new Settlements(ctx.clients, ctx.log);
    const holder = ctx.clients.inProcess('governance') ? undefined : new Holder(ctx.clients.governance, ctx.log);
    holder?.start();
    const sandboxes = new SandboxPool(config.codeMode);
    const batchKeys = new BatchLineKeys();
    const deps: PipelineDeps = {
      clients: ctx.clients,
      recorder,
      events,
      emitReceived: config.emitReceived,
      log: ctx.log,
      agent: config.agent,
      codeMode: config.codeMode,
      sandboxes,
      authorizations: new Authorizations(ctx.clients, settlements),
      settlements,
      promptCounting: new PromptCounting(),
      storage,
      holder,
      batchKeys,
    };
    const batches = new BatchRunner(ctx.clients.routing, batchKeys, config.batches, ctx.log.child({ component: 'batches' }), new ProviderBatchLines(deps));
    const app = await buildIngressApp(config, batches, deps);
    const url = await app.listen({ host: ctx.host, port: config.port, backlog: LISTEN_BACKLOG });
    ctx.log.info({ url }, 'OpenAI-compatible API listening');
    batches.start(app);
    return {
      endpoints: { http: url },
      ready: () => storage.known,
      stop: async () => {
        // The batch lines running end before the routes they run through close.
        await batches.stop();
        await closeGracefully(app);
        // Settles still lingering go now, while governance's client is open.
        settlements.flush();
        holder?.stop();
        stored.stop();
        await Promise.all(changes.map((consumer) => consumer.stop()));
        await sandboxes.close();
      },
    };
  },
});
