import { APIError } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSplunk, type FakeSplunk, type HecEnvelope } from '../fakes/splunk.js';
import { startInProcess } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

interface OcsfRecord {
  class_uid: number;
  activity_name: string;
  status: string;
  metadata: { uid: string; correlation_uid?: string; event_code: string };
  actor: { user?: { uid: string; name?: string; groups?: Array<{ uid: string }> } };
  api: { operation: string; response?: { code?: number; error?: string } };
}

// The audit service of a running gateway streams what happens to the customer's SIEM.
describe('SIEM streaming from a running gateway', () => {
  let splunk: FakeSplunk;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let key: string;
  let keyId: string;

  beforeAll(async () => {
    splunk = await startFakeSplunk();
    gateway = await startInProcess({
      audit: { sinks: [{ type: 'splunk', name: 'soc', url: splunk.url, token: splunk.token, format: 'ocsf', index: 'ai', maxBatch: 10 }] },
    });
    ({ key, id: keyId } = await gateway.createKey({ name: 'siem-app', team: 'risk' }));
  });
  afterAll(async () => {
    await gateway?.stop();
    await splunk?.close();
  });

  const records = () => splunk.received.map((envelope: HecEnvelope) => envelope.event as OcsfRecord);
  const byRequest = (requestId: string) => records().filter((r) => r.metadata.correlation_uid === requestId);

  it('sends each call, answered or refused, to Splunk as OCSF API Activity, with who made it', async () => {
    const client = gateway.client(key);
    const ok = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'for the SOC' }] }).withResponse();
    const okId = ok.response.headers.get('x-request-id')!;
    const failed = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(APIError);
    const failedId = (failed as APIError).headers?.get('x-request-id') ?? '';
    expect(failedId).not.toBe('');

    await eventually('both outcomes in Splunk', async () =>
      byRequest(okId).some((r) => r.metadata.event_code === 'request.completed') && byRequest(failedId).some((r) => r.metadata.event_code === 'request.failed')
        ? true
        : undefined,
    );
    const completed = byRequest(okId).find((r) => r.metadata.event_code === 'request.completed')!;
    expect(completed).toMatchObject({ class_uid: 6003, status: 'Success', api: { operation: 'chat.completions', response: { code: 200 } } });
    expect(completed.actor.user).toMatchObject({ uid: keyId, name: 'siem-app', groups: [{ uid: 'risk' }] });
    const refused = byRequest(failedId).find((r) => r.metadata.event_code === 'request.failed')!;
    expect(refused).toMatchObject({ status: 'Failure', api: { response: { code: 404 } } });
    expect(splunk.received.every((e) => e.index === 'ai' && e.sourcetype === 'ai-gateway:event')).toBe(true);
  });

  it("sends checkpoints of the audit chain's head, signed with the chain key, for the SIEM to keep", async () => {
    const checkpoint = await eventually('a checkpoint in Splunk', async () => records().find((r) => r.metadata.event_code === 'audit.checkpoint'));
    expect(checkpoint as unknown).toMatchObject({
      unmapped: { checkpoint: { seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/), mac: expect.stringMatching(/^[0-9a-f]{64}$/) } },
    });
  });

  it('sends admin changes too, and never the virtual key itself', async () => {
    await eventually('the key creation in Splunk', async () =>
      records().some((r) => r.metadata.event_code.startsWith('admin.') && r.activity_name === 'Create' && JSON.stringify(r).includes(keyId)) ? true : undefined,
    );
    expect(JSON.stringify(splunk.received)).not.toContain(key);
    // Each event once, however the batches were cut.
    const uids = records().map((r) => r.metadata.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });
});

// A SIEM that refuses part of what it is sent (here, HEC's max_content_length) must not stop the stream: batches are
// sent in parts, and an event it refuses on its own is kept in dead_letters, with every other event delivered.
describe('a SIEM that refuses what it is sent', () => {
  let splunk: FakeSplunk;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  let db: pg.Client;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    infra = await isolatedInfra();
    // Room for about three ordinary OCSF envelopes.
    splunk = await startFakeSplunk({ maxContentLength: 6_000 });
    config = {
      nats: infra.nats,
      database: infra.database,
      audit: { sinks: [{ type: 'splunk', name: 'soc', url: splunk.url, token: splunk.token, format: 'ocsf', maxBatch: 20 }] },
      // Room for the model name below, whose events are larger than this SIEM takes.
      ingress: { limits: { maxModelNameLength: 4_096 } },
    };
    gateway = await startInProcess(config);
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
  });
  afterAll(async () => {
    await gateway?.stop();
    await splunk?.close();
    await db?.end();
    await infra?.drop();
  });

  it('delivers every event but the one it refuses on its own, which is kept whole in dead_letters', async () => {
    const client = gateway.client((await gateway.createKey({ name: 'siem-refusals' })).key);
    const ask = (model: string) =>
      client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'for the SOC' }] })
        .withResponse()
        .then(
          (r) => r.response.headers.get('x-request-id')!,
          (err: APIError) => err.headers?.get('x-request-id') ?? '',
        );
    // A model name longer than HEC takes in one request: the events of that request cannot be delivered.
    const models = ['mock/echo', 'mock/echo', `mock/${'x'.repeat(4_000)}`, 'mock/echo', 'mock/echo', 'mock/echo'];
    const ids = await Promise.all(models.map(ask));
    const refusedId = ids[2]!;
    expect(ids.every((id) => id.startsWith('req_'))).toBe(true);

    const audited = await eventually('the audit rows of all six requests', async () => {
      const { rows } = await db.query<{ event_id: string; request_id: string }>('SELECT event_id, request_id FROM audit_events WHERE request_id = ANY($1)', [
        ids,
      ]);
      return new Set(rows.map((r) => r.request_id)).size === ids.length ? rows : undefined;
    });
    // Every event of the refused request is set aside (and counted, just after), and no other.
    const eventIds = (rows: Array<{ event_id: string }>) =>
      rows
        .map((r) => r.event_id)
        .sort()
        .join();
    const setAside = await eventually('the refused events in dead_letters, counted', async () => {
      const { rows } = await db.query<{ event_id: string; request_id: string; error: string }>(
        "SELECT event_id, request_id, error FROM dead_letters WHERE consumer = 'siem-soc'",
      );
      const { rows: ofRefused } = await db.query<{ event_id: string }>('SELECT event_id FROM audit_events WHERE request_id = $1', [refusedId]);
      const metrics = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
      const counted = new RegExp(`^gateway_consumer_dead_letters_total\\{consumer="siem-soc"\\} ${rows.length}$`, 'm').test(metrics);
      return rows.length > 0 && eventIds(rows) === eventIds(ofRefused) && counted ? rows : undefined;
    });
    const refusedEvents = setAside.map((r) => r.event_id);
    expect(setAside.every((r) => r.request_id === refusedId && /answered 413/.test(r.error))).toBe(true);
    const delivered = () => new Set(splunk.received.map((e) => (e.event as { metadata: { uid: string } }).metadata.uid));
    const expected = audited.filter((r) => r.request_id !== refusedId).map((r) => r.event_id);
    await eventually('every other event of the six requests in Splunk', async () => (expected.every((id) => delivered().has(id)) ? true : undefined));
    expect(refusedEvents.some((id) => delivered().has(id))).toBe(false);
    expect(splunk.requests.some((r) => r.status === 413)).toBe(true);
  });

  it('delivers the events set aside once the SIEM takes them, when the audit service starts again', async () => {
    const { rows } = await db.query<{ event_id: string }>("SELECT event_id FROM dead_letters WHERE consumer = 'siem-soc'");
    expect(rows.length).toBeGreaterThan(0);
    // The SIEM's limit raised, and the gateway restarted.
    splunk.maxContentLength = 1_000_000;
    await gateway.stop();
    // Its data folder too, as a restarted process keeps it: the audit chain's key is there.
    gateway = await startInProcess({ ...config, dataDir: gateway.dataDir });
    const delivered = () => new Set(splunk.received.map((e) => (e.event as { metadata: { uid: string } }).metadata.uid));
    await eventually('the events set aside in Splunk', async () => (rows.every((r) => delivered().has(r.event_id)) ? true : undefined));
    // Each leaves the table once HEC has taken it (just after, so waited for).
    await eventually('dead_letters empty', async () =>
      (await db.query("SELECT 1 FROM dead_letters WHERE consumer = 'siem-soc'")).rows.length === 0 ? true : undefined,
    );
  });
});
