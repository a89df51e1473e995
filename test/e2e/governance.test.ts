import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, ADMIN_TOKEN, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

// Two governance replicas and two ingress replicas (ingress i asks governance
// i), each its own process: limits must hold across them.
describe('governance across replicas', () => {
  let gateway: SplitGateway;
  let db: pg.Client;
  const cleanup: (() => Promise<void>)[] = [];
  const secrets: string[] = [ADMIN_TOKEN];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    cleanup.push(infra.drop);
    gateway = await startSplit(
      {
        nats: infra.nats,
        database: infra.database,
        routing: {
          providers: { mock: { type: 'mock', latencyMs: 400 }, slow: { type: 'mock', chunkDelayMs: 150 }, talker: { type: 'mock', latencyMs: 400, fillOutputCap: true } },
        },
        // $10 per million tokens: a request allowing 100,000 output tokens reserves just over $1.
        pricing: { models: { 'mock/echo': { input: 10, output: 10 }, 'talker/echo': { input: 10, output: 10 } } },
        // The shortest silence bound: a killed ingress's admissions are released 5–6.25 s after its last heartbeat.
        governance: { quota: { syncIntervalMs: 200 }, holderSilenceMs: 5_000 },
      },
      { governance: 2, ingress: 2 },
    );
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    await admin(gateway.adminUrl, 'POST', '/admin/customers', { id: 'acme', name: 'Acme' });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'finance', name: 'Finance', customer: 'acme' });
  });

  afterAll(async () => {
    await gateway?.stop();
    await db?.end();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  async function newKey(body: Record<string, unknown>): Promise<string> {
    const created = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'replicated', team: 'finance', ...body });
    secrets.push(created.key);
    return created.key;
  }

  /** Fires the requests at once, alternating between the ingress replicas; returns each outcome's status. */
  async function burst(key: string, count: number, maxTokens: number | undefined = 100_000, model = 'mock/echo') {
    const clients = gateway.ingressURLs.map((baseURL) => new OpenAI({ baseURL, apiKey: key, maxRetries: 0 }));
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        clients[i % clients.length]!.chat.completions
          .create({ model, ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }), messages: [{ role: 'user', content: `request ${i}` }] })
          .withResponse()
          .then(({ response }) => ({ status: 200, code: '', headers: new Headers(), requestId: response.headers.get('x-request-id')! }))
          .catch((e: InstanceType<typeof OpenAI.APIError>) => ({ status: e.status ?? 0, code: String(e.code), headers: e.headers ?? new Headers(), requestId: '' })),
      ),
    );
  }

  it('never lets concurrent requests spend past a budget, even when each uses all the output it may', async () => {
    // A team of its own: the budget it uses up does not reach the keys of the tests after it.
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'spenders', name: 'Spenders', customer: 'acme' });
    const key = await newKey({ name: 'budgeted', team: 'spenders' });
    await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'team', scope_id: 'spenders', limit_usd: 3.5, period: 'day' });
    // talker answers with every token its output cap allows (32,768 without one): a request costs what its reservation
    // covers, and one sent without max_tokens costs far more than the 4,096 output tokens reserved for it unless capped.
    const outcomes = [...(await burst(key, 6, 100_000, 'talker/echo')), ...(await burst(key, 6, undefined, 'talker/echo'))];
    const admitted = outcomes.filter((o) => o.status === 200);
    expect(admitted.length).toBeGreaterThanOrEqual(1);
    for (const refused of outcomes.filter((o) => o.status !== 200)) expect(refused).toMatchObject({ status: 402, code: 'budget_exceeded' });
    const spent = await eventually('a usage row for each request admitted', async () => {
      const { rows } = await db.query<{ n: number; usd: string }>('SELECT count(*)::int AS n, COALESCE(sum(cost_usd), 0)::text AS usd FROM usage_records WHERE request_id = ANY($1)', [admitted.map((o) => o.requestId)]);
      return rows[0]!.n === admitted.length ? Number(rows[0]!.usd) : undefined;
    });
    expect(spent).toBeLessThanOrEqual(3.5);
    // Not only whole requests fit: output caps lowered to what was left let the budget be used up.
    expect(spent).toBeGreaterThan(3.2);
  });

  it('holds a request rate limit across replicas, with x-ratelimit headers and retry-after', async () => {
    const key = await newKey({ rpm_limit: 4, rate_window_seconds: 3600 });
    const outcomes = await burst(key, 10, 10);
    const admitted = outcomes.filter((o) => o.status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(4);
    const refused = outcomes.find((o) => o.status !== 200)!;
    expect(refused).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('4');
  });

  it('holds a limit on requests in flight across replicas', async () => {
    const key = await newKey({ max_parallel: 2 });
    const outcomes = await burst(key, 6, 10);
    const admitted = outcomes.filter((o) => o.status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(2);
    expect(outcomes.find((o) => o.status !== 200)).toMatchObject({ status: 429, code: 'concurrency_limit_exceeded' });
  });

  it('frees a request-in-flight slot as soon as the request ended: one after another, each is admitted', async () => {
    // Ingress holds settles for a moment to send several at once; the next admission must take them along first.
    const key = await newKey({ max_parallel: 1 });
    const client = new OpenAI({ baseURL: gateway.ingressURLs[0], apiKey: key, maxRetries: 0 });
    for (let i = 0; i < 4; i++) {
      const completion = await client.chat.completions.create({ model: 'mock/echo', max_tokens: 10, messages: [{ role: 'user', content: `in turn ${i}` }] });
      expect(completion.choices[0]?.message.content).toBe(`This is a mock response to: in turn ${i}`);
    }
  });

  it('applies an admin change on every replica at once: a revoked key is refused everywhere, and audited', async () => {
    const key = await newKey({ name: 'soon revoked' });
    const viaSecond = new OpenAI({ baseURL: gateway.ingressURLs[1], apiKey: key, maxRetries: 0 });
    await viaSecond.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'still fine' }] });
    const { data } = await admin<{ data: { id: string; name: string }[] }>(gateway.adminUrl, 'GET', '/admin/keys?team=finance');
    const id = data.find((k) => k.name === 'soon revoked')!.id;
    await admin(gateway.adminUrls[0]!, 'POST', `/admin/keys/${id}/revoke`);
    const refused = await eventually('the second replica to refuse the revoked key', async () => {
      const error = await viaSecond.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'now?' }] }).then(() => undefined, (e: unknown) => e);
      return error as InstanceType<typeof OpenAI.APIError> | undefined;
    }, 5_000);
    expect(refused.status).toBe(401);
    const audit = await eventually('the revocation in the audit log', async () => {
      const { rows } = await db.query<{ payload: { admin: { beforeJson: string; afterJson: string } }; actor_admin: string }>(
        "SELECT payload, actor_admin FROM audit_events WHERE event_type = 'admin.virtual_key.revoke' AND payload->'admin'->>'resourceId' = $1",
        [id],
      );
      return rows[0];
    });
    expect(JSON.parse(audit.payload.admin.beforeJson).revoked_at).toBeNull();
    expect(JSON.parse(audit.payload.admin.afterJson).revoked_at).not.toBeNull();
    expect(audit.actor_admin).toBe('admin-token (owner)');
    const rejected = await eventually('the refused request in the audit log', async () => {
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'request.rejected' AND payload->'request'->>'errorCode' = 'invalid_api_key'",
      );
      return rows[0]!.n > 0 ? rows[0] : undefined;
    });
    expect(rejected.n).toBeGreaterThan(0);
  });

  it('frees the slots of an ingress killed mid-stream within seconds, for the ingress started in its place', async () => {
    const key = await newKey({ max_parallel: 2 });
    const client = new OpenAI({ baseURL: gateway.ingressURLs[0], apiKey: key, maxRetries: 0 });
    const ask = () => client.chat.completions.create({ model: 'mock/echo', max_tokens: 10, messages: [{ role: 'user', content: 'a slot?' }] });
    // About 30 s of stream each at 150 ms a chunk: both slots stay taken while the first ingress lives.
    const streams = await Promise.all(
      [1, 2].map(async () => {
        const stream = await client.chat.completions.create({ model: 'slow/echo', messages: [{ role: 'user', content: 'word '.repeat(200) }], stream: true });
        await stream[Symbol.asyncIterator]().next();
        return stream;
      }),
    );
    expect(await ask().catch((e: unknown) => e)).toMatchObject({ status: 429, code: 'concurrency_limit_exceeded' });
    await gateway.restart('ingress', 'SIGKILL');
    for (const stream of streams) stream.controller.abort();
    await eventually('a request of the key admitted again', async () => {
      const answer = await ask().catch((e: InstanceType<typeof OpenAI.APIError>) => {
        if (e.status === 429) return undefined;
        throw e;
      });
      return answer?.choices[0]?.message.content;
    });
  });

  it('never prints a virtual key or an admin token', () => {
    const output = gateway.output();
    for (const secret of secrets) expect(output).not.toContain(secret);
  });
});
