import fc from 'fast-check';
import type OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes/openai.js';
import { ADMIN_TOKEN, startSplit, type SplitGateway } from '../../harness/gateway.js';
import { eventually, isolatedInfra } from '../../harness/infra.js';
import { adminRequest, inboundRequest, type FuzzRequest } from './requests.js';

/**
 * Cases per property: a fixed budget in CI; `FUZZ_RUNS=20000 npm test -- test/e2e/fuzz`
 * for a long local run. fast-check prints the seed and the smallest failing
 * case; `FUZZ_SEED=<seed>` replays it.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** Room for a long run: a case takes a few milliseconds. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 50);
/** An answer that has not come by then never will (a request that hangs fails its case, not the whole run). */
const ANSWER_WITHIN_MS = 15_000;

/** Statuses a hostile request may get; 500 (a bug) and 503 (a service down or a circuit open) are failures. */
const CLIENT_STATUSES = new Set([200, 400, 401, 403, 404, 405, 406, 413, 415, 429, 502, 504]);

// Issue 20's fuzzing suite: split mode (six processes, real NATS JetStream and
// PostgreSQL). Each generated request must get a clean answer in its API's
// shape with a request id, and must not hurt anyone else: another team's
// well-formed requests keep being served and recorded, no circuit opens, and
// no process dies.
describe('fuzzing the public and admin APIs (split mode, real NATS and PostgreSQL)', () => {
  let gateway: SplitGateway;
  let fake: FakeOpenAI;
  let db: pg.Client;
  let fuzzKey: string;
  let sacrificial: { key: string; team: string };
  let probe: OpenAI;
  const recorded: string[] = [];
  const probes: string[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    fake = await startFakeOpenAI({ apiKey: 'sk-fuzz-provider' });
    gateway = await startSplit({
      nats: infra.nats,
      database: infra.database,
      routing: { providers: { mock: { type: 'mock' }, openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-fuzz-provider' } } },
    });
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    cleanup.push(
      () => gateway.stop(),
      () => db.end(),
      () => fake.close(),
      infra.drop,
    );
    fuzzKey = (await gateway.createKey({ name: 'fuzz', team: 'fuzz' })).key;
    const aside = await gateway.createKey({ name: 'set aside for the admin fuzzing', team: 'fuzz-admin' });
    sacrificial = { key: aside.id, team: 'fuzz-admin' };
    probe = gateway.client((await gateway.createKey({ name: 'probe', team: 'probe' })).key);
  });

  afterAll(async () => {
    for (const step of cleanup) await step().catch(() => undefined);
  });

  /** After each case: another team's well-formed request is answered (its row is checked at the end), and no circuit is open. */
  async function othersUnharmed(about: string): Promise<void> {
    const { data, response } = await probe.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] })
      .withResponse();
    expect(data.choices[0]?.message.content, about).toBe('Fake OpenAI reply to: still there?');
    probes.push(response.headers.get('x-request-id')!);
    const { deployments } = (await (await fetch(`${gateway.processes.routing.opsUrl}/routing/deployments`)).json()) as {
      deployments: { id: string; circuit: string }[];
    };
    expect(
      deployments.filter((d) => d.circuit !== 'closed'),
      about,
    ).toEqual([]);
  }

  async function send(request: FuzzRequest): Promise<Response> {
    return fetch(`${new URL(gateway.baseURL).origin}${request.path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
    });
  }

  /** The answer is a success or an error in the client's API shape, with a request id; returns what the case was, for messages. */
  async function expectClean(request: FuzzRequest, response: Response): Promise<string> {
    const text = await response.text();
    const about = `${request.method} ${request.path} ${JSON.stringify(request.headers)} ${request.body?.slice(0, 300)} → ${response.status} ${text.slice(0, 300)}`;
    expect(CLIENT_STATUSES.has(response.status), about).toBe(true);
    expect(response.headers.get('x-request-id'), about).toMatch(/^req_/);
    if (request.family === 'mcp') return about;
    if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
      expect(response.status, about).toBe(200);
      expect(text, about).toMatch(/^(event: \S+\n)?data: /);
      return about;
    }
    const body = JSON.parse(text) as Record<string, unknown>;
    if (response.status === 200) return about;
    if (request.family === 'anthropic' && request.path.startsWith('/v1/messages')) {
      expect(body, about).toMatchObject({ type: 'error', error: { type: expect.any(String), message: expect.any(String) } });
    } else {
      expect(body, about).toMatchObject({ error: { message: expect.any(String), type: expect.any(String), code: expect.any(String) } });
    }
    expect(text, about).not.toMatch(/TypeError|RangeError|Cannot read prop|at [A-Za-z.]+ \(|127\.0\.0\.1:\d+/);
    return about;
  }

  it(
    `answers ${RUNS} generated requests on every inbound API cleanly, in their API's shape`,
    async () => {
      await fc.assert(
        fc.asyncProperty(inboundRequest(fuzzKey), async (request) => {
          const response = await send(request);
          const about = await expectClean(request, response);
          if (request.recorded) recorded.push(response.headers.get('x-request-id')!);
          await othersUnharmed(about);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT_MS,
  );

  it(
    `answers ${RUNS} generated admin API calls with a success or a clean error, never a 5xx`,
    async () => {
      await fc.assert(
        fc.asyncProperty(adminRequest(sacrificial), async ({ method, path, body }) => {
          const response = await fetch(`${gateway.adminUrl}${path}`, {
            method,
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            body,
            signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
          });
          const text = await response.text();
          const about = `${method} ${path} ${body?.slice(0, 300)} → ${response.status} ${text.slice(0, 300)}`;
          expect(response.status, about).toBeLessThan(500);
          expect(response.headers.get('x-request-id'), about).toMatch(/^req_/);
          if (response.status >= 400) expect(JSON.parse(text), about).toMatchObject({ error: { message: expect.any(String), code: expect.any(String) } });
          await othersUnharmed(about);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT_MS,
  );

  it('afterwards: every process runs, and every request is on record once', async () => {
    await othersUnharmed('after the fuzzing');
    for (const process of Object.values(gateway.processes)) expect(process.child.exitCode, process.name).toBeNull();

    const ids = [...recorded, ...probes];
    const rows = await eventually(`one audit row for each of ${ids.length} requests`, async () => {
      const { rows: found } = await db.query<{ request_id: string; n: number }>(
        "SELECT request_id, count(*)::int AS n FROM audit_events WHERE request_id = ANY($1) AND event_type LIKE 'request.%' GROUP BY request_id",
        [ids],
      );
      return found.length === new Set(ids).size ? found : undefined;
    });
    expect(rows.filter((row) => row.n !== 1)).toEqual([]);
    const { rows: usage } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_records WHERE request_id = ANY($1)', [probes]);
    expect(usage[0]!.n).toBe(probes.length);
  });
});
