import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startWorkers, type WorkersGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-workers-provider-secret-7171';

/** The sum of a metric's samples in Prometheus text. */
function total(metrics: string, name: string): number {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

// gateway start --workers 2: two processes, each running every service, sharing one port.
describe('workers: every service in two processes sharing the ports', () => {
  let fake: FakeOpenAI;
  let gateway: WorkersGateway;
  let db: pg.Client;
  let cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    cleanup = [infra.drop, () => fake.close()];
    gateway = await startWorkers(
      {
        nats: infra.nats,
        database: infra.database,
        routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } } },
      },
      2,
    );
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
  });

  afterAll(async () => {
    await gateway?.stop();
    await db?.end();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('sees an admin change made through one worker at once through the other', async () => {
    // Back to back, as a script calls the admin API: the cluster spreads the connections over the workers, and a
    // call often lands on the worker that has not yet heard of the entity the call before created.
    for (let i = 0; i < 8; i++) {
      await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: `team-w${i}`, name: `team ${i}` });
      const { id } = await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: `key ${i}`, team: `team-w${i}` });
      await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: 10, period: 'month' });
      await admin(gateway.adminUrl, 'GET', `/admin/keys/${id}`);
    }
  });

  it('is ready only with both workers ready, and shows each in /readyz', async () => {
    const res = await fetch(`${gateway.opsUrl}/readyz`);
    expect(res.status).toBe(200);
    const { services } = (await res.json()) as { services: Record<string, boolean> };
    for (const worker of ['worker1', 'worker2']) {
      expect(services[worker]).toBe(true);
      for (const service of ['ingress', 'routing', 'governance', 'caching', 'audit', 'metering']) expect(services[`${worker}.${service}`]).toBe(true);
    }
    expect(gateway.workerPids()).toHaveLength(2);
  });

  it('answers the openai client from both workers, with one audit and one usage row per request and metrics summed', async () => {
    const { key } = await gateway.createKey({ name: 'workers', team: 'team-workers' });
    const before = total(await (await fetch(`${gateway.opsUrl}/metrics`)).text(), 'gateway_requests_total');
    const ids: string[] = [];
    // A client per request: new connections, spread over the workers by the cluster.
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const { data, response } = await gateway
          .client(key)
          .chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `hello ${i}` }] })
          .withResponse();
        expect(data.choices[0]?.message.content).toBe(`Fake OpenAI reply to: hello ${i}`);
        ids.push(response.headers.get('x-request-id')!);
      }),
    );
    const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
    expect(total(metrics, 'gateway_requests_total') - before).toBe(20);
    await eventually('an audit and a usage row per request', async () => {
      const audit = await db.query(
        `SELECT count(DISTINCT request_id)::int AS n FROM audit_events WHERE event_type = 'request.completed' AND request_id = ANY($1)`,
        [ids],
      );
      const usage = await db.query('SELECT count(*)::int AS n FROM usage_records WHERE request_id = ANY($1)', [ids]);
      return audit.rows[0].n === 20 && usage.rows[0].n === 20 ? true : undefined;
    });
    // Both workers served: each logged requests under its own worker number.
    const served = new Set([...gateway.primary.output().matchAll(/"worker":(\d+)[^\n]*"requestId"/g)].map((m) => m[1]));
    expect([...served].sort()).toEqual(['1', '2']);
  });

  it('starts a worker that died again, answering every request meanwhile', async () => {
    const { key } = await gateway.createKey({ name: 'survivor', team: 'team-survivor' });
    const [victim] = gateway.workerPids();
    process.kill(victim!, 'SIGKILL');
    // With the SDK's default retries, as applications run it: a request on a connection the dead worker held is retried.
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: key });
    for (let i = 0; i < 10; i++) {
      const completion = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `after ${i}` }] });
      expect(completion.choices[0]?.message.content).toBe(`Fake OpenAI reply to: after ${i}`);
    }
    await eventually('the worker to be back', async () => {
      const pids = gateway.workerPids();
      const ready = await fetch(`${gateway.opsUrl}/readyz`).then((r) => r.status);
      return pids.length === 2 && !pids.includes(victim!) && ready === 200 ? true : undefined;
    });
    const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
    expect(total(metrics, 'gateway_worker_restarts_total')).toBe(1);
  });
});
