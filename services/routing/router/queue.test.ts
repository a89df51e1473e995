import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../kit/errors.js';
import { routingConfig } from '../config.js';
import type { ProviderAdapter } from '../providers/types.js';
import { ModelCatalog } from './catalog.js';
import { Router, type Target } from './router.js';

const HINTS = { strategy: '', deployment: '', noFallbacks: false, maxOutputTokens: 0, anthropicBeta: [] };

/**
 * A router over providers `a` and `b`, and a call that stays in flight until
 * the test ends it: `calls` are the deployments called, in order; `end(i)`
 * answers call i, or ends its stream when it held its slot (`stream`).
 */
function setup(models: Record<string, unknown>, stream = false) {
  const adapters = new Map(['a', 'b'].map((name) => [name, { name, credentialCount: 1 } as ProviderAdapter]));
  const config = routingConfig.parse({ providers: { a: { type: 'mock' }, b: { type: 'mock' } }, models });
  const router = new Router(new ModelCatalog(config, adapters), config.retry, new Registry());
  const calls: string[] = [];
  const ends: (() => void)[] = [];
  const call = (target: Target) => {
    calls.push(target.deployment.id);
    if (stream) {
      const open = new AbortController();
      target.heldUntil = open.signal;
      ends.push(() => open.abort());
      return Promise.resolve(target.deployment.id);
    }
    return new Promise<string>((resolve) => ends.push(() => resolve(target.deployment.id)));
  };
  const route = (model: string, signal = new AbortController().signal) => router.route(model, HINTS, signal, call);
  const deployment = (id: string) => router.catalog.allDeployments().find((d) => d.id === id)!;
  return { route, calls, end: (i: number) => ends[i]!(), deployment };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('a deployment at its maxInFlight', () => {
  it('sends calls past its cap to a deployment of the group with room rather than queue them', async () => {
    // Weighted so heavily that `a` is always first by strategy: only its cap sends calls to `b`.
    const { route, calls, end } = setup({
      g: {
        deployments: [
          { provider: 'a', model: 'm', maxInFlight: 2, weight: 1e9 },
          { provider: 'b', model: 'm', weight: 1e-9 },
        ],
      },
    });
    const answers = [route('g'), route('g'), route('g'), route('g')];
    await settle();
    expect(calls).toEqual(['a/m', 'a/m', 'b/m', 'b/m']);
    for (let i = 0; i < 4; i++) end(i);
    expect((await Promise.all(answers)).map((a) => a.queuedMs)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('queues when every deployment is full, and holds a stream’s slot until it ends', async () => {
    const { route, calls, end, deployment } = setup({ g: { deployments: [{ provider: 'a', model: 'm', maxInFlight: 1 }] } }, true);
    const first = await route('g');
    const second = route('g');
    await settle();
    expect(calls).toEqual(['a/m']);
    expect(deployment('a/m').slots.queued).toBe(1);
    end(0);
    const routed = await second;
    expect(calls).toEqual(['a/m', 'a/m']);
    expect(first.queuedMs).toBeUndefined();
    expect(routed.queuedMs).toBeGreaterThan(0);
  });

  it('gives up after queueTimeoutMs with a 503 overloaded, recorded as an attempt', async () => {
    const { route, calls } = setup({ g: { deployments: [{ provider: 'a', model: 'm', maxInFlight: 1, queueTimeoutMs: 1 }] } });
    void route('g');
    const error = await route('g').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('overloaded');
    expect((error as GatewayError).status).toBe(503);
    expect((error as GatewayError).attempts.map((a) => `${a.deployment} ${a.outcome}`)).toEqual(['a/m overloaded']);
    expect(calls).toEqual(['a/m']);
  });

  it('drops a queued call whose client went away: the provider never gets it', async () => {
    const { route, calls, end, deployment } = setup({ g: { deployments: [{ provider: 'a', model: 'm', maxInFlight: 1 }] } });
    const first = route('g');
    const client = new AbortController();
    const gone = route('g', client.signal);
    await settle();
    client.abort();
    await expect(gone).rejects.toThrow();
    expect(deployment('a/m').slots.queued).toBe(0);
    end(0);
    await first;
    expect(calls).toEqual(['a/m']);
    expect(deployment('a/m').inFlight).toBe(0);
  });
});
