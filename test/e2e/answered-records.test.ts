import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadUntilStopped } from '../harness/answer-load.js';
import { startSplit, type SplitGateway } from '../harness/gateway.js';
import { createDatabase, eventually, isolatedBus, requireInfra } from '../harness/infra.js';
import { startOutageProxy, type Outage } from '../harness/proxy.js';

// No answer without a record: ingress is killed with SIGKILL in the middle of
// load, and every request whose client got a complete answer has exactly one
// audit row and one usage row once ingress is back. Events wait a whole second
// for company (nats.publishLingerMs), so a record that the answer did not wait
// for would die with the process.

describe('no answer without a record: ingress killed mid-load', () => {
  let gateway: SplitGateway;
  let db: pg.Client;
  let natsOutage: Outage;
  let key: string;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = requireInfra();
    const database = await createDatabase(infra.databaseUrl);
    const bus = isolatedBus(infra.natsUrl);
    const nats = new URL(infra.natsUrl);
    natsOutage = await startOutageProxy(nats.hostname, Number(nats.port || 4222));
    cleanup.push(database.drop, bus.cleanup, () => natsOutage.close());
    // The spool outlives the process, as a volume outlives a pod.
    const spoolDir = mkdtempSync(join(tmpdir(), 'gw-ingress-spool-'));
    gateway = await startSplit(
      {
        nats: { url: `nats://${natsOutage.address}`, stream: bus.stream, subjectPrefix: bus.subjectPrefix, insecure: true, publishLingerMs: 1_000 },
        database: { url: database.url },
        routing: { providers: { mock: { type: 'mock', latencyMs: 5 } } },
      },
      {},
      (service): Record<string, string> => (service === 'ingress' ? { GATEWAY_EVENTS__SPOOL__DIR: spoolDir } : {}),
    );
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    ({ key } = await gateway.createKey({ name: 'answered' }));
  });

  afterAll(async () => {
    natsOutage?.restore();
    await gateway?.stop();
    await db?.end();
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  /** Every answered id has exactly one audit row (request.completed, durable) and one usage row. */
  async function expectOnRecord(ids: string[]): Promise<void> {
    expect(ids.length).toBeGreaterThan(20);
    await eventually(
      'a record of every answered request',
      async () => {
        const { rows } = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'request.completed' AND request_id = ANY($1) AND payload->'request'->>'recordGuarantee' = 'durable'",
          [ids],
        );
        const usage = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_records WHERE request_id = ANY($1)', [ids]);
        return rows[0]!.n === ids.length && usage.rows[0]!.n === ids.length ? true : undefined;
      },
      60_000,
    );
    const twice = await db.query('SELECT request_id FROM audit_events WHERE request_id = ANY($1) AND event_type = $2 GROUP BY request_id HAVING count(*) > 1', [
      ids,
      'request.completed',
    ]);
    expect(twice.rows).toEqual([]);
  }

  it('keeps every answered request on record when ingress is killed with SIGKILL', async () => {
    const traffic = loadUntilStopped(gateway.baseURL, key, 20);
    await eventually('load under way', async () => (traffic.answered.length >= 200 ? true : undefined));
    await gateway.processes.ingress.kill('SIGKILL');
    const answeredBeforeKill = [...traffic.answered];
    await gateway.restart('ingress', 'SIGKILL');
    await eventually('answers again', async () => (traffic.answered.length >= answeredBeforeKill.length + 50 ? true : undefined));
    await traffic.stop();
    await expectOnRecord(traffic.answered);
  });

  it('keeps them on record when NATS was down as ingress was killed: the spool replays them at restart', async () => {
    const traffic = loadUntilStopped(gateway.baseURL, key, 20);
    await eventually('load under way', async () => (traffic.answered.length >= 100 ? true : undefined));
    natsOutage.cut();
    const atCut = traffic.answered.length;
    // Answers go on while NATS is down: their events are fsync'd to the spool before each answer ends.
    await eventually('answers while NATS is down', async () => (traffic.answered.length >= atCut + 50 ? true : undefined));
    await gateway.processes.ingress.kill('SIGKILL');
    await traffic.stop();
    natsOutage.restore();
    await gateway.restart('ingress', 'SIGKILL');
    await expectOnRecord(traffic.answered);
  });
});
