import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSplit, type SplitGateway } from '../harness/gateway.js';
import { createDatabase, eventually, isolatedBus, requireInfra } from '../harness/infra.js';
import { startOutageProxy, type Outage } from '../harness/proxy.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

// Faults that must lose or duplicate nothing: consumers killed, NATS and
// PostgreSQL gone for a while, an event published twice, a row changed by
// hand. After each, every request id has exactly one audit row and one usage
// row, and spend adds up exactly.
describe('faults lose and duplicate nothing', () => {
  let gateway: SplitGateway;
  let db: pg.Client;
  let natsOutage: Outage;
  let pgOutage: Outage;
  let client: OpenAI;
  let databaseUrl: string;
  let stream: string;
  let subjectPrefix: string;
  let natsUrl: string;
  const cleanup: (() => Promise<void>)[] = [];
  /** Every request answered so far: id → cost in pico-dollars, the ledger's precision (prompt $1/M, completion $2/M). */
  const answered = new Map<string, bigint>();

  beforeAll(async () => {
    const infra = requireInfra();
    natsUrl = infra.natsUrl;
    const database = await createDatabase(infra.databaseUrl);
    databaseUrl = database.url;
    const bus = isolatedBus(infra.natsUrl);
    ({ stream, subjectPrefix } = bus);
    const nats = new URL(infra.natsUrl);
    const postgres = new URL(database.url);
    natsOutage = await startOutageProxy(nats.hostname, Number(nats.port || 4222));
    pgOutage = await startOutageProxy(postgres.hostname, Number(postgres.port || 5432));
    cleanup.push(
      database.drop,
      bus.cleanup,
      () => natsOutage.close(),
      () => pgOutage.close(),
    );
    const proxied = new URL(database.url);
    proxied.host = pgOutage.address;
    gateway = await startSplit({
      // Unacknowledged events come back after 5 s instead of 30, to keep the test short.
      nats: { url: `nats://${natsOutage.address}`, stream, subjectPrefix, ackWaitSeconds: 5, insecure: true },
      database: { url: proxied.toString() },
      routing: { providers: { mock: { type: 'mock', latencyMs: 5 } } },
      pricing: { models: { 'mock/echo': { input: 1, output: 2 } } },
    });
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    client = gateway.client((await gateway.createKey({ name: 'faults' })).key);
  });

  afterAll(async () => {
    natsOutage?.restore();
    pgOutage?.restore();
    await gateway?.stop();
    await db?.end();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  /** Sends `count` requests, 8 at a time; calls `fault` once a third of them are done. */
  async function load(count: number, fault: () => Promise<void>): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    let faulted: Promise<void> | undefined;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        if (i === Math.floor(count / 3)) faulted = fault();
        const { data, response } = await client.chat.completions
          .create({ model: 'mock/echo', messages: [{ role: 'user', content: `fault load ${i}` }] })
          .withResponse();
        const id = response.headers.get('x-request-id')!;
        ids.push(id);
        answered.set(id, BigInt(data.usage!.prompt_tokens) * 1_000_000n + BigInt(data.usage!.completion_tokens) * 2_000_000n);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await faulted;
    return ids;
  }

  /** Waits until every id has its rows, then checks there is exactly one of each. */
  async function expectRecordedOnce(ids: string[]): Promise<void> {
    const count = async (sql: string) => (await db.query<{ rows: number; ids: number }>(sql, [ids])).rows[0]!;
    const audit = `SELECT count(*)::int AS rows, count(DISTINCT request_id)::int AS ids FROM audit_events WHERE request_id = ANY($1) AND event_type LIKE 'request.%'`;
    const usage = 'SELECT count(*)::int AS rows, count(DISTINCT request_id)::int AS ids FROM usage_records WHERE request_id = ANY($1)';
    await eventually('audit rows', async () => ((await count(audit)).ids >= ids.length ? true : undefined), 60_000);
    await eventually('usage rows', async () => ((await count(usage)).ids >= ids.length ? true : undefined), 60_000);
    expect(await count(audit)).toEqual({ rows: ids.length, ids: ids.length });
    expect(await count(usage)).toEqual({ rows: ids.length, ids: ids.length });
  }

  it('loses nothing when the audit and metering consumers are killed mid-load and restarted', { timeout: 120_000 }, async () => {
    const ids = await load(300, async () => {
      await gateway.restart('audit', 'SIGKILL');
      await gateway.restart('metering', 'SIGKILL');
    });
    await expectRecordedOnce(ids);
  });

  it('spools events while NATS is gone and publishes them, in full, when it is back', { timeout: 120_000 }, async () => {
    const ids = await load(300, async () => {
      natsOutage.cut();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      natsOutage.restore();
    });
    const metrics = await (await fetch(`${gateway.processes.ingress.opsUrl}/metrics`)).text();
    expect(Number(/gateway_events_spooled_total (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
    await expectRecordedOnce(ids);
    for (const process of Object.values(gateway.processes)) expect(process.child.exitCode).toBeNull();
  });

  it('retries writes while PostgreSQL is gone, acking nothing early', { timeout: 120_000 }, async () => {
    const ids = await load(300, async () => {
      pgOutage.cut();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      pgOutage.restore();
    });
    await expectRecordedOnce(ids);
    // No service fell over.
    for (const process of Object.values(gateway.processes)) expect(process.child.exitCode).toBeNull();
  });

  it("keeps one row when an event is published twice, beyond JetStream's duplicate window", async () => {
    const [id] = await load(3, async () => undefined);
    await expectRecordedOnce([id!]);
    const nc = await connect({ servers: natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      const stored = await jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}.events.request.completed` });
      // The last message of completed events (one, or a batch with its count header), sent again under a new
      // message id: JetStream stores it a second time.
      const copy = headers();
      for (const [name, values] of stored!.header) if (name !== 'Nats-Msg-Id') for (const value of values) copy.append(name, value);
      const ack = await jetstream(nc).publish(stored!.subject, stored!.data, { msgID: `replay-${stored!.seq}-${Date.now()}`, headers: copy });
      expect(ack.duplicate).toBe(false);
      // Both consumers have handled (acknowledged) the copy.
      for (const consumer of ['audit', 'metering']) {
        await eventually(`${consumer} to acknowledge the copy`, async () =>
          (await jsm.consumers.info(stream, consumer)).ack_floor.stream_seq >= ack.seq ? true : undefined,
        );
      }
    } finally {
      await nc.close();
    }
    await expectRecordedOnce([...answered.keys()]);
  });

  it('adds up spend exactly', async () => {
    const expected = [...answered.values()].reduce((a, b) => a + b, 0n);
    const { rows } = await db.query<{ total: string }>(
      'SELECT (SUM(cost_usd) * 1000000000000)::bigint::text AS total FROM usage_records WHERE request_id = ANY($1)',
      [[...answered.keys()]],
    );
    expect(BigInt(rows[0]!.total)).toBe(expected);
  });

  it('verify names a row changed by hand', async () => {
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'services/gateway/cli.ts', 'audit', ...args], {
        cwd: REPO,
        env: { ...process.env, GATEWAY_DATABASE__URL: databaseUrl, GATEWAY_DATA_DIR: gateway.dataDir, GATEWAY_CONFIG: '' },
      }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
    expect(await run(['verify'])).toMatchObject({ code: 0, out: expect.stringContaining('audit log intact') });
    const { rows } = await db.query<{ seq: string }>('SELECT seq::text FROM audit_events ORDER BY seq OFFSET 10 LIMIT 1');
    // The tables' owner, around the gateway: it alone may lift the append-only trigger.
    await db.query('BEGIN');
    await db.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    await db.query("UPDATE audit_events SET actor_key_id = 'someone-else' WHERE seq = $1", [rows[0]!.seq]);
    await db.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    await db.query('COMMIT');
    const broken = await run(['verify']);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain(`BROKEN at row ${rows[0]!.seq}`);
  });
});
