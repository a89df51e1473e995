import { describe, expect, it } from 'vitest';
import { testToken } from '../../test/harness/infra.js';
import { configProblems } from '../../test/harness/config.js';
import { startOpsServer, type OpsSettings, type OpsSource } from './ops-server.js';

const source: OpsSource = {
  metricsContentType: 'text/plain',
  metrics: async () => 'gateway_requests_total 1\n',
  readiness: async () => ({ routing: true }),
  view: async (path) => (path === '/routing/deployments' ? { deployments: [] } : undefined),
};

const TOKEN = testToken('ops');
const PATHS = ['/healthz', '/readyz', '/metrics', '/routing/deployments'] as const;

describe('ops server access', () => {
  /** The status of each path for a request with `token` (none: no Authorization header). */
  async function statuses(settings: Partial<OpsSettings>, token?: string): Promise<Record<string, number>> {
    const { server, url } = await startOpsServer({ host: '127.0.0.1', opsPort: 0, opsToken: '', metricsNeedToken: false, ...settings }, source);
    const port = new URL(url).port;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    try {
      const out: Record<string, number> = {};
      // Always through loopback: what counts is the address the server is bound to, not where a request comes from.
      for (const path of PATHS) out[path] = (await fetch(`http://127.0.0.1:${port}${path}`, { headers })).status;
      return out;
    } finally {
      await new Promise((done) => server.close(done));
    }
  }

  it('with no token configured: everything on a loopback bind; beyond it, probes and metrics only', async () => {
    expect(await statuses({ host: '127.0.0.1' })).toEqual({ '/healthz': 200, '/readyz': 200, '/metrics': 200, '/routing/deployments': 200 });
    expect(await statuses({ host: '0.0.0.0' })).toEqual({ '/healthz': 200, '/readyz': 200, '/metrics': 200, '/routing/deployments': 403 });
  });

  it('with opsToken: data views need it wherever the port is bound; probes and (by default) metrics stay open', async () => {
    for (const host of ['0.0.0.0', '127.0.0.1']) {
      expect(await statuses({ host, opsToken: TOKEN })).toEqual({ '/healthz': 200, '/readyz': 200, '/metrics': 200, '/routing/deployments': 401 });
      expect(await statuses({ host, opsToken: TOKEN }, testToken('ops'))).toMatchObject({ '/routing/deployments': 401 });
      expect(await statuses({ host, opsToken: TOKEN }, TOKEN)).toMatchObject({ '/routing/deployments': 200 });
    }
  });

  it('with metricsNeedToken: /metrics needs the token too, the probes never do', async () => {
    expect(await statuses({ host: '0.0.0.0', opsToken: TOKEN, metricsNeedToken: true })).toEqual({
      '/healthz': 200,
      '/readyz': 200,
      '/metrics': 401,
      '/routing/deployments': 401,
    });
    expect(await statuses({ host: '0.0.0.0', opsToken: TOKEN, metricsNeedToken: true }, TOKEN)).toEqual({
      '/healthz': 200,
      '/readyz': 200,
      '/metrics': 200,
      '/routing/deployments': 200,
    });
  });

  it('refuses metricsNeedToken without an opsToken, and an opsToken that is short or published', () => {
    expect(configProblems({ env: { GATEWAY_SERVER__METRICS_NEED_TOKEN: 'true' } })).toEqual([
      expect.stringContaining('set server.opsToken when server.metricsNeedToken is true'),
    ]);
    expect(configProblems({ env: { GATEWAY_SERVER__OPS_TOKEN: 'too-short' } })).toEqual([expect.stringContaining('server.opsToken: got a 9-character value')]);
    expect(configProblems({ env: { GATEWAY_SERVER__OPS_TOKEN: `change-me-${TOKEN}` } })).toEqual([expect.stringContaining('published or placeholder value')]);
  });
});
