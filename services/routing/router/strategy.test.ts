import { describe, expect, it } from 'vitest';
import type { ProviderAdapter } from '../providers/types.js';
import { Deployment } from './deployment.js';
import { orderDeployments } from './strategy.js';

const circuit = { failureThreshold: 5, windowMs: 1000, openMs: 1000 };
const make = (id: string, cost?: number) => new Deployment(id, { name: id } as ProviderAdapter, 'm', cost, circuit);

/** A repeatable pseudo-random sequence (mulberry32), so the test is deterministic. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('deployment strategies', () => {
  it('weighted: picks first in proportion to weight, and orders the rest too', () => {
    const heavy = make('heavy');
    const light = make('light');
    const random = seeded(42);
    let heavyFirst = 0;
    for (let i = 0; i < 10_000; i++) {
      const order = orderDeployments(
        [
          { deployment: heavy, weight: 3 },
          { deployment: light, weight: 1 },
        ],
        'weighted',
        random,
      );
      expect(order).toHaveLength(2);
      if (order[0] === heavy) heavyFirst++;
    }
    expect(heavyFirst / 10_000).toBeGreaterThan(0.72);
    expect(heavyFirst / 10_000).toBeLessThan(0.78);
  });

  it('least-in-flight, lowest-latency (unmeasured first) and lowest-cost (unknown last)', () => {
    const a = make('a', 10);
    const b = make('b', 2);
    const c = make('c');
    a.slots.inFlight = 5;
    b.slots.inFlight = 1;
    c.slots.inFlight = 3;
    a.observeLatency(100);
    b.observeLatency(300);
    const members = [a, b, c].map((deployment) => ({ deployment, weight: 1 }));
    expect(orderDeployments(members, 'least-in-flight').map((d) => d.id)).toEqual(['b', 'c', 'a']);
    expect(orderDeployments(members, 'lowest-latency').map((d) => d.id)).toEqual(['c', 'a', 'b']);
    expect(orderDeployments(members, 'lowest-cost').map((d) => d.id)).toEqual(['b', 'a', 'c']);
  });

  it('keeps a moving average of latency', () => {
    const d = make('d');
    d.observeLatency(100);
    d.observeLatency(200);
    expect(d.latencyMs).toBeCloseTo(120);
  });
});
