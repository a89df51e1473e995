import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSplunk, type FakeSplunk } from '../fakes/splunk.js';
import { admin, startInProcess, type TestGateway } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/infra.js';
import { dashboardQueries, promtool, requirePrometheus, ruleQueries, startPrometheus, type Query, type RunningPrometheus } from './prometheus.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RULES = ['recording-rules.yaml', 'alerting-rules.yaml'].map((file) => join(REPO, 'deploy/prometheus', file));
const RULE_TESTS = join(REPO, 'deploy/prometheus/tests/alerting-rules.test.yaml');
const GRAFANA = join(REPO, 'deploy/grafana');
const DASHBOARDS = readdirSync(GRAFANA)
  .filter((file) => file.endsWith('.json'))
  .map((file) => join(GRAFANA, file));

// The shipped rules and dashboards, checked by Debian's promtool and run by its Prometheus against a gateway.
describe('Prometheus rules and Grafana dashboards', () => {
  beforeAll(requirePrometheus);

  it('promtool finds the rules valid and their unit tests pass', () => {
    const checked = promtool('check', 'rules', ...RULES);
    expect(checked.out).toMatch(/SUCCESS: \d+ rules found[\s\S]*SUCCESS: \d+ rules found/);
    expect(checked.code).toBe(0);
    const tested = promtool('test', 'rules', RULE_TESTS);
    expect(tested.out).toContain('SUCCESS');
    expect(tested.code).toBe(0);
  });

  it('ships the five dashboards, each on a Prometheus chosen by its datasource variable', () => {
    const dashboards = DASHBOARDS.map((file) => JSON.parse(readFileSync(file, 'utf8')));
    expect(dashboards.map((d) => d.title).sort()).toEqual([
      'AI Gateway / Consumers and events',
      'AI Gateway / Governance',
      'AI Gateway / Overview',
      'AI Gateway / Providers',
      'AI Gateway / SIEM delivery',
    ]);
    for (const dashboard of dashboards) {
      expect(dashboard.schemaVersion).toBe(39);
      expect(dashboard.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
      const panels = dashboard.panels.filter((p: { type: string }) => p.type !== 'row');
      expect(panels.length).toBeGreaterThan(0);
      for (const panel of panels) expect(panel.datasource, `${dashboard.title}: ${panel.title}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  describe('scraping a gateway that answered, failed and refused requests', () => {
    let splunk: FakeSplunk;
    let gateway: TestGateway;
    let prometheus: RunningPrometheus;

    beforeAll(async () => {
      requirePrometheus();
      splunk = await startFakeSplunk();
      // Nothing listens there: every call to the provider "down" fails.
      const closed = await freePort();
      gateway = await startInProcess({
        routing: {
          providers: {
            mock: { type: 'mock' },
            slow: { type: 'mock', latencyMs: 1_000 },
            down: { type: 'openai', baseUrl: `http://127.0.0.1:${closed}/v1`, apiKey: 'sk-test-nothing-listens' },
          },
          models: { 'one-at-a-time': { deployments: [{ id: 'single', provider: 'slow', model: 'echo', maxInFlight: 1 }] } },
        },
        pricing: { models: { 'mock/echo': { input: 1, output: 2 } } },
        audit: { sinks: [{ type: 'splunk', name: 'soc', url: splunk.url, token: splunk.token, maxBatch: 10 }] },
      });
      await sendTraffic(gateway);
      prometheus = await startPrometheus(new URL(gateway.opsUrl).host, RULES);
      // The first scrapes, and rules evaluated on them: what rate() and the recorded series need.
      await eventually('three scrapes of the gateway', async () => {
        const { data } = await prometheus.query('count_over_time(up{job="gateway"}[1m]) >= 3 and on () up{job="gateway"} == 1');
        return data?.result.length ? true : undefined;
      });
    });

    afterAll(async () => {
      await prometheus?.stop();
      await gateway?.stop();
      await splunk?.close();
    });

    it('loads every rule, and each evaluates without error', async () => {
      const groups = await eventually('both rule groups evaluated', async () => {
        const loaded = await prometheus.rules();
        return loaded.length === 2 && loaded.every((g) => g.rules.every((r) => r.health === 'ok')) ? loaded : undefined;
      });
      expect(groups.map((g) => g.name).sort()).toEqual(['gateway.alerts', 'gateway.recording']);
    });

    it('every query of every dashboard panel and variable returns data', async () => {
      expect(await withoutData(prometheus, DASHBOARDS.flatMap(dashboardQueries))).toEqual([]);
    });

    it("every recording rule returns data, and so does every alert's signal", async () => {
      expect(await withoutData(prometheus, RULES.flatMap(ruleQueries))).toEqual([]);
    });
  });
});

/** Requests that leave a trace in every metric the dashboards show: answered, cached, unpriced, failed upstream, queued for a slot, refused for a budget. */
async function sendTraffic(gateway: TestGateway): Promise<void> {
  const ask = (client: OpenAI, model: string, content: string) =>
    client.chat.completions.create({ model, temperature: 0, messages: [{ role: 'user', content }] }).then(
      () => 200,
      (err: { status?: number }) => err.status,
    );
  const client = gateway.client((await gateway.createKey({ name: 'dashboards' })).key);
  expect(await ask(client, 'mock/echo', 'stored')).toBe(200);
  expect(await ask(client, 'mock/echo', 'stored')).toBe(200);
  expect(await ask(client, 'mock/unpriced', 'no price')).toBe(200);
  expect(await ask(client, 'down/gpt-4o-mini', 'nobody answers')).toBeGreaterThanOrEqual(500);
  // Sent together to a deployment that takes one call at a time: the second waits for the first's slot.
  expect(await Promise.all([ask(client, 'one-at-a-time', 'first'), ask(client, 'one-at-a-time', 'second')])).toEqual([200, 200]);
  const spent = await gateway.createKey({ name: 'spent' });
  await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: spent.id, limit_usd: 0.000001, period: 'day' });
  expect(await ask(gateway.client(spent.key), 'mock/echo', 'over budget')).toBe(402);
}

/** The queries Prometheus refuses, or that return no series within a bounded wait, each with where it is written. */
async function withoutData(prometheus: RunningPrometheus, queries: Query[]): Promise<string[]> {
  expect(queries.length).toBeGreaterThan(0);
  const problems: string[] = [];
  for (const { where, expr } of queries) {
    const answer = await prometheus.query(expr);
    if (answer.status !== 'success') {
      problems.push(`${where}: ${answer.error} in ${expr}`);
      continue;
    }
    const found = await eventually(where, async () => ((await prometheus.query(expr)).data?.result.length ? true : undefined), 15_000).catch(() => false);
    if (!found) problems.push(`${where}: no data for ${expr}`);
  }
  return problems;
}
