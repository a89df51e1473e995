import { describe, expect, it } from 'vitest';
import { gatewayConfig } from './config.js';
import { loadConfig } from '../kit/config.js';
import { SERVICE_NAMES } from '../kit/service.js';
import { ClientMap, startOrder } from './clients.js';

describe('the services as the root composes them', () => {
  it('starts each service after those it depends on, whatever order they were named in', () => {
    const order = startOrder([...SERVICE_NAMES].reverse());
    expect(order.indexOf('routing')).toBeLessThan(order.indexOf('governance'));
    for (const callee of ['governance', 'routing', 'caching'] as const) expect(order.indexOf(callee)).toBeLessThan(order.indexOf('ingress'));
    expect(order.sort()).toEqual([...SERVICE_NAMES].sort());
    expect(startOrder(['ingress', 'audit'])).toEqual(['ingress', 'audit']);
  });

  it('refuses declarations that depend on each other in a cycle, naming it', () => {
    const cyclic = (name: string) => (name === 'routing' ? ['caching'] : name === 'caching' ? ['routing'] : []) as never;
    expect(() => startOrder(['routing', 'caching'], cyclic)).toThrow('services depend on each other in a cycle: routing → caching → routing');
  });

  it('gives a service clients of what it declared only, and none of this process not yet started', async () => {
    const config = loadConfig(gatewayConfig, { env: {} });
    const clients = new ClientMap(config, [...SERVICE_NAMES], undefined);
    expect(() => clients.for('caching').governance).toThrow('caching calls governance, which its definition does not declare in dependsOn');
    expect(() => clients.for('ingress').governance).toThrow(/governance service of this process has not started/);
    const governance = { authorize: async () => 'admitted' };
    clients.started('governance', governance);
    expect(clients.for('ingress').governance).toBe(governance);
    expect(clients.for('routing').inProcess('governance')).toBe(true);
  });
});
