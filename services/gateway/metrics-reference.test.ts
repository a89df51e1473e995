import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seedPglite } from '../../test/harness/databases.js';
import { registeredMetrics, renderMetricsReference } from './metrics-reference.js';

describe('metrics reference', () => {
  it('docs/metrics.md lists every metric the services register (regenerate with npm run docs:metrics)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-metrics-'));
    await seedPglite(join(dataDir, 'pg'));
    const metrics = await registeredMetrics(dataDir);
    const committed = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderMetricsReference(metrics));
    // Those the shipped alerts stand on, each with its labels, and a series before the first count where an alert needs one.
    expect(metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'gateway_requests_total', type: 'counter', labels: ['endpoint', 'status'] }),
        expect.objectContaining({ name: 'gateway_deployment_circuit_state', type: 'gauge', labels: ['deployment'] }),
        expect.objectContaining({ name: 'gateway_consumer_pending_messages', type: 'gauge', labels: ['consumer'] }),
        expect.objectContaining({ name: 'gateway_consumer_dead_letters_total', labels: ['consumer'], fromStart: true }),
        expect.objectContaining({ name: 'gateway_events_dropped_total', labels: ['reason'], fromStart: true }),
        expect.objectContaining({ name: 'gateway_worker_restarts_total', type: 'counter', labels: [] }),
      ]),
    );
    expect(metrics.some((m) => m.name.startsWith('nodejs_') || m.name.startsWith('process_'))).toBe(false);
  });

  it('refuses to render a note for a metric no service registers', () => {
    expect(() => renderMetricsReference([])).toThrow(/notes for metrics no service registers: gateway_requests_total/);
  });
});
