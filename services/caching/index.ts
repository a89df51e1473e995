import { CachingService } from '../gen/gateway/v1/caching.js';
import { defineService } from '../kit/service.js';
import type { CachingConfig } from './config.js';
import { cachingDatabase } from './migrations.js';
import { Caching } from './service.js';
import { SharedEntries } from './shared.js';

/** Sweeps of expired rows in the shared store, from each replica. */
const SWEEP_INTERVAL_MS = 60_000;

export const cachingService = defineService({
  name: 'caching',
  dependsOn: [],
  contract: { service: CachingService, callers: { lookup: ['routing'], store: ['routing'], listEntries: ['governance'], purge: ['governance'] } },
  database: cachingDatabase,
  async init(ctx, config: CachingConfig) {
    const api = new Caching(config, ctx.metrics);
    const db = (await ctx.database()).as('caching');
    const shared = new SharedEntries(db, api.entries, ctx.log, (entry) => api.indexed(entry));
    const loaded = await shared.load(config.maxEntries);
    ctx.log.info({ entries: loaded }, 'cache entries loaded');
    api.shared = shared;
    /** Runs work every ms, skipping a turn while the last one is still running (a slow database). */
    const every = (ms: number, what: string, work: () => Promise<unknown>) => {
      let running = false;
      return setInterval(() => {
        if (running) return;
        running = true;
        work()
          .catch((err: unknown) => ctx.log.warn({ err }, `cache ${what} failed; retrying`))
          .finally(() => (running = false));
      }, ms).unref();
    };
    const timers = [
      // On embedded PGlite this process is the database's only user: there are no other replicas to hear from.
      ...(db.kind === 'pglite' ? [] : [every(config.syncIntervalMs, 'sync with other replicas', () => shared.sync())]),
      every(SWEEP_INTERVAL_MS, 'sweep of expired entries', async () => {
        api.entries.sweep(Date.now());
        await shared.sweep();
      }),
    ];
    return {
      api,
      // A replica that cannot reach the shared store still answers from memory, so it stays ready.
      ready: () => true,
      stop: async () => {
        for (const timer of timers) clearInterval(timer);
      },
    };
  },
});
