/**
 * How long routing takes to choose a deployment, without any network: the
 * catalog lookup, the strategy's ordering, the circuit check, the credential
 * pick, and the attempt bookkeeping (metrics included), around a call that
 * returns at once. Run: npm run bench:routing
 */
import { Registry } from 'prom-client';
import { routingConfig, STRATEGIES } from '../../services/routing/config.js';
import type { ProviderAdapter } from '../../services/routing/providers/types.js';
import { ModelCatalog } from '../../services/routing/router/catalog.js';
import { Router } from '../../services/routing/router/router.js';

const DEPLOYMENTS = 10;
const ITERATIONS = 200_000;

const adapter = { name: 'p', type: 'bench', credentialCount: 3, models: [], capabilities: {} } as unknown as ProviderAdapter;
const signal = new AbortController().signal;

async function measure(strategy: (typeof STRATEGIES)[number]): Promise<number> {
  const config = routingConfig.parse({
    providers: { p: { type: 'mock' } },
    models: {
      group: {
        strategy,
        deployments: Array.from({ length: DEPLOYMENTS }, (_, i) => ({ id: `d${i}`, provider: 'p', model: `m${i}`, weight: i + 1, inputCostPerMillion: i })),
      },
    },
  });
  const router = new Router(new ModelCatalog(config, new Map([['p', adapter]])), config.retry, new Registry());
  const call = async () => 1;
  for (let i = 0; i < 20_000; i++) await router.route('group', undefined, signal, call);
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) await router.route('group', undefined, signal, call);
  return Number(process.hrtime.bigint() - started) / ITERATIONS / 1000;
}

console.log(`choosing one of ${DEPLOYMENTS} deployments, ${ITERATIONS} requests per strategy (Node ${process.version})`);
for (const strategy of STRATEGIES) console.log(`  ${strategy.padEnd(16)} ${(await measure(strategy)).toFixed(2)} µs per request`);
