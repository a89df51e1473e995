import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSplunk, type FakeSplunk, type HecEnvelope } from '../fakes/splunk.js';
import { startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

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
      byRequest(okId).some((r) => r.metadata.event_code === 'request.completed') && byRequest(failedId).some((r) => r.metadata.event_code === 'request.failed') ? true : undefined,
    );
    const completed = byRequest(okId).find((r) => r.metadata.event_code === 'request.completed')!;
    expect(completed).toMatchObject({ class_uid: 6003, status: 'Success', api: { operation: 'chat.completions', response: { code: 200 } } });
    expect(completed.actor.user).toMatchObject({ uid: keyId, name: 'siem-app', groups: [{ uid: 'risk' }] });
    const refused = byRequest(failedId).find((r) => r.metadata.event_code === 'request.failed')!;
    expect(refused).toMatchObject({ status: 'Failure', api: { response: { code: 404 } } });
    expect(splunk.received.every((e) => e.index === 'ai' && e.sourcetype === 'ai-gateway:event')).toBe(true);
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
