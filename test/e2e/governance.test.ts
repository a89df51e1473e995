import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calcTools, startMcpHttpServer, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

// Two governance replicas and two ingress replicas (ingress i asks governance
// i), each its own process: limits must hold across them.
describe('governance across replicas', () => {
  let gateway: SplitGateway;
  let db: pg.Client;
  let model: FakeOpenAI;
  let calc: FakeMcpHttpServer;
  const cleanup: (() => Promise<void>)[] = [];
  const secrets: string[] = [ADMIN_TOKEN];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    cleanup.push(infra.drop);
    model = await startFakeOpenAI({ apiKey: 'sk-provider' });
    calc = await startMcpHttpServer('calc', calcTools());
    cleanup.push(
      () => model.close(),
      () => calc.close(),
    );
    gateway = await startSplit(
      {
        nats: infra.nats,
        database: infra.database,
        routing: {
          providers: {
            mock: { type: 'mock', latencyMs: 400 },
            slow: { type: 'mock', chunkDelayMs: 150 },
            talker: { type: 'mock', latencyMs: 400, fillOutputCap: true },
            openai: { type: 'openai', baseUrl: `${model.url}/v1`, apiKey: 'sk-provider' },
          },
          models: { 'team-talker': 'openai/talker' },
          mcp: { servers: { calc: { transport: 'http', url: calc.url, autoExecute: ['*'] } } },
        },
        // $10 per million tokens: a request allowing 100,000 output tokens reserves just over $1.
        pricing: { models: { 'mock/echo': { input: 10, output: 10 }, 'talker/echo': { input: 10, output: 10 }, 'openai/talker': { input: 10, output: 10 } } },
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
        clients[i % clients.length]!.chat.completions.create({
          model,
          ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
          messages: [{ role: 'user', content: `request ${i}` }],
        })
          .withResponse()
          .then(({ response }) => ({ status: 200, code: '', headers: new Headers(), requestId: response.headers.get('x-request-id')! }))
          .catch((e: InstanceType<typeof OpenAI.APIError>) => ({
            status: e.status ?? 0,
            code: String(e.code),
            headers: e.headers ?? new Headers(),
            requestId: '',
          })),
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
      const { rows } = await db.query<{ n: number; usd: string }>(
        'SELECT count(*)::int AS n, COALESCE(sum(cost_usd), 0)::text AS usd FROM usage_records WHERE request_id = ANY($1)',
        [admitted.map((o) => o.requestId)],
      );
      return rows[0]!.n === admitted.length ? Number(rows[0]!.usd) : undefined;
    });
    expect(spent).toBeLessThanOrEqual(3.5);
    // Not only whole requests fit: output caps lowered to what was left let the budget be used up.
    expect(spent).toBeGreaterThan(3.2);
  });

  interface Kind {
    key: string;
    model: string;
    content: string;
    stream: boolean;
    max_tokens?: number;
  }
  interface Outcome {
    status: number;
    code: string;
    message: string;
    requestId: string | null;
  }
  let sent = 0;

  /** Sends the requests at once, alternating kinds and ingress replicas; each prompt its own (numbered first), so none is cheaper for a prompt cache hit. */
  function fire(count: number, kinds: Kind[]): Promise<Outcome[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const { key, content, stream, ...rest } = kinds[i % kinds.length]!;
        const client = new OpenAI({ baseURL: gateway.ingressURLs[i % 2], apiKey: key, maxRetries: 0 });
        const body = { ...rest, messages: [{ role: 'user' as const, content: `${sent++}: ${content}` }] };
        let requestId: string | null = null;
        try {
          if (!stream) {
            const { response } = await client.chat.completions.create(body).withResponse();
            return { status: 200, code: '', message: '', requestId: response.headers.get('x-request-id') };
          }
          const { data, response } = await client.chat.completions.create({ ...body, stream: true }).withResponse();
          requestId = response.headers.get('x-request-id');
          for await (const _chunk of data);
          return { status: 200, code: '', message: '', requestId };
        } catch (e) {
          const error = e as InstanceType<typeof OpenAI.APIError>;
          // An error event in a stream that had begun has no status of its own.
          return {
            status: error.status ?? 200,
            code: String(error.code),
            message: error.message,
            requestId: requestId ?? error.headers?.get('x-request-id') ?? null,
          };
        }
      }),
    );
  }

  /**
   * Waits until every request is on record (in the audit log, and when admitted in the usage ledger, priced) and
   * governance counts what the ledger says the team spent, each request rounded up to a micro-dollar (no reservation
   * left behind); returns that spend.
   */
  async function settled(outcomes: Outcome[], team: string, budgetId: string): Promise<number> {
    const ids = outcomes.map((o) => o.requestId);
    const admitted = await eventually('an audit row for every request', async () => {
      const { rows } = await db.query<{ request_id: string; event_type: string }>(
        "SELECT request_id, event_type FROM audit_events WHERE request_id = ANY($1) AND event_type IN ('request.completed', 'request.failed', 'request.rejected')",
        [ids],
      );
      return rows.length === ids.length ? rows.filter((row) => row.event_type !== 'request.rejected').map((row) => row.request_id) : undefined;
    });
    const spent = await eventually('a usage row for every request admitted', async () => {
      const { rows } = await db.query<{ n: number; usd: string }>(
        'SELECT count(*)::int AS n, COALESCE(sum(cost_usd), 0)::text AS usd FROM usage_records WHERE team_id = $1',
        [team],
      );
      return rows[0]!.n === admitted.length ? Number(rows[0]!.usd) : undefined;
    });
    const {
      rows: [recorded],
    } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_records WHERE request_id = ANY($1)', [admitted]);
    expect(recorded!.n).toBe(admitted.length);
    await eventually('every reservation settled', async () => {
      const { window } = await admin<{ window: { used_usd: number } }>(gateway.adminUrl, 'GET', `/admin/budgets/${budgetId}`);
      if (window.used_usd >= spent && window.used_usd <= spent + admitted.length * 1e-6) return true;
      throw new Error(`the budget counts $${window.used_usd}, the ledger $${spent}`);
    });
    return spent;
  }

  /** Every request answered in full, or refused by the budget with 402 (an error event once a stream had begun). */
  function expectAnsweredOrRefused(outcomes: Outcome[], budgetText: string): void {
    for (const refused of outcomes.filter((o) => o.code !== '')) {
      expect(refused).toMatchObject({ code: 'budget_exceeded', message: expect.stringContaining(`${budgetText} does not cover this request`) });
    }
    for (const refused of outcomes.filter((o) => o.status !== 200)) expect(refused.status).toBe(402);
  }

  const AGENT_LOOP = 'Compute: calc__add with {"a":2,"b":3} then calc__multiply with {"a":5,"b":7}';

  async function teamWithBudget(team: string, limitUsd: number) {
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: team, name: team, customer: 'acme' });
    const budget = await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/budgets', {
      scope: 'team',
      scope_id: team,
      limit_usd: limitUsd,
      period: 'day',
    });
    // The other governance replica learns of the budget from the admin change's event, as the audit log does.
    await eventually('the budget on the bus', async () => {
      const { rows } = await db.query("SELECT 1 FROM audit_events WHERE event_type = 'admin.budget.create' AND payload->'admin'->>'resourceId' = $1", [
        budget.id,
      ]);
      return rows[0];
    });
    const plain = await newKey({ name: `${team} plain`, team });
    const agent = await newKey({ name: `${team} agent`, team, allowed_tools: ['calc.*'], tool_mode: 'agent' });
    await eventually('the MCP server connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data[0]?.state === 'ready' ? true : undefined;
    });
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/calc/approve');
    return { plain, agent, budget };
  }

  it('holds a budget against 200 concurrent requests of every kind: streams, agent loops, long Japanese prompts, no max_tokens, aliases', async () => {
    const { plain, agent, budget } = await teamWithBudget('siege', 2.5);
    // The talker model answers with every token its cap allows and bills one prompt token per UTF-8 byte (three per
    // Japanese character): a reservation that under-counted either would show here as spend past the limit.
    const japanese = '東京の明日の天気と、週末に訪ねるべき美術館について詳しく教えてください。'.repeat(120);
    const outcomes = await fire(200, [
      { key: plain, model: 'team-talker', content: japanese, stream: false },
      { key: plain, model: 'openai/talker', content: japanese, stream: true },
      { key: plain, model: 'team-talker', content: 'a short question', stream: true, max_tokens: 20_000 },
      { key: agent, model: 'team-talker', content: AGENT_LOOP, stream: false },
      { key: agent, model: 'openai/talker', content: AGENT_LOOP, stream: true },
    ]);
    const spent = await settled(outcomes, 'siege', budget.id);
    expect(spent).toBeLessThanOrEqual(2.5);
    const answered = outcomes.filter((o) => o.code === '').length;
    expect(answered).toBeGreaterThanOrEqual(3);
    expect(answered).toBeLessThan(50);
    expectAnsweredOrRefused(outcomes, 'daily budget of team siege ($2.5)');
  }, 180_000);

  it('reserves every model call of concurrent agent loops: a loop the budget cannot carry on is cut with 402, its calls charged', async () => {
    // About $0.15 a loop of three calls, each answering with its whole cap of 4,096 tokens: $0.5 carries some of eight.
    const { agent, budget } = await teamWithBudget('loops', 0.5);
    const outcomes = await fire(8, [
      { key: agent, model: 'team-talker', content: AGENT_LOOP, stream: false },
      { key: agent, model: 'openai/talker', content: AGENT_LOOP, stream: true },
    ]);
    const spent = await settled(outcomes, 'loops', budget.id);
    expect(spent).toBeLessThanOrEqual(0.5);
    expectAnsweredOrRefused(outcomes, 'daily budget of team loops ($0.5)');
    // Loops went past their first call (a tool ran) under the reservations of their later calls, and some were cut.
    const {
      rows: [tools],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE request_id = ANY($1) AND event_type = 'tool.called'", [
      outcomes.map((o) => o.requestId),
    ]);
    expect(tools!.n).toBeGreaterThan(0);
    expect(outcomes.some((o) => o.code === 'budget_exceeded')).toBe(true);
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
    const refused = await eventually(
      'the second replica to refuse the revoked key',
      async () => {
        const error = await viaSecond.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'now?' }] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        return error as InstanceType<typeof OpenAI.APIError> | undefined;
      },
      5_000,
    );
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

  it('reports deployment health through governance from routing, another process', async () => {
    type Health = { id: string; provider: string; model: string; circuit: string; recent_calls: number };
    const health = await admin<{ replica: string; data: Health[] }>(gateway.adminUrl, 'GET', '/admin/deployments/health');
    const ops = (await (await fetch(`${gateway.processes.routing.opsUrl}/routing/deployments`)).json()) as { deployments: Health[] };
    // The same deployments as routing's own view: the earlier tests' calls to mock/echo among them.
    expect(health.data.map((d) => d.id).sort()).toEqual(ops.deployments.map((d) => d.id).sort());
    expect(health.data.find((d) => d.provider === 'mock' && d.model === 'echo')).toMatchObject({ circuit: 'closed' });
    expect(health.replica).toMatch(/.+:\d+$/);
  });

  it('never prints a virtual key or an admin token', () => {
    const output = gateway.output();
    for (const secret of secrets) expect(output).not.toContain(secret);
  });
});
