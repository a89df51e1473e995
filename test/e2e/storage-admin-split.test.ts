import { createHmac } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, migratedInfra, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';
import { usageRowsOf } from '../harness/records.js';

const HASH_KEY = 'storage-admin-split-hash-key-0123456789';
const TAG = 'client:split-planted';
const HASHED = `hmac-sha256:${createHmac('sha256', HASH_KEY).update(TAG).digest('hex')}`;

interface RequestRow {
  payload: { storagePolicies?: string[]; request?: { tags?: string[] } };
}

// Split mode: a storage policy set through the admin API is stored by routing;
// every ingress replica hears its admin event over NATS and reads the policies
// from routing over gRPC (StorageEntries), so each records what the policy says.
describe('storage policies through the admin API, on every ingress replica', () => {
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  let gateway: SplitGateway;
  let key: { id: string; key: string };

  beforeAll(async () => {
    infra = await isolatedInfra();
    const config = await migratedInfra(infra);
    gateway = await startSplit(
      { ...config, routing: { providers: { mock: { type: 'mock' } } }, guardrails: { storage: { hashKey: HASH_KEY } } },
      { ingress: 2 },
    );
    key = await gateway.createKey({ name: 'split', team: 'team-split' });
  });
  afterAll(async () => {
    await gateway?.stop();
    await infra?.drop();
  });

  /** The tags one replica recorded for a request, as its audit row keeps them. */
  async function tagsRecordedBy(replica: number): Promise<{ requestId: string; row: RequestRow }> {
    const client = new OpenAI({ baseURL: gateway.ingressURLs[replica]!, apiKey: key.key, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'mock/echo', messages: [{ role: 'user', content: 'hello' }] }, { headers: { 'x-gateway-tags': TAG } })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    const row = await eventually(`the audit row of ${requestId}`, async () => {
      const { data } = await admin<{ data: RequestRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
      return data[0];
    });
    return { requestId, row };
  }

  it('hashes the team’s tags on each replica once attached, and keeps them again once detached', async () => {
    await admin(gateway.adminUrl, 'PUT', '/admin/guardrails/storage/policies/tags-hashed', { metadata: 'hash' });
    await admin(gateway.adminUrl, 'PUT', '/admin/guardrails/storage/attachments/team:team-split', ['tags-hashed']);
    for (const replica of [0, 1]) {
      const { requestId, row } = await eventually(`replica ${replica} to apply the policy`, async () => {
        const recorded = await tagsRecordedBy(replica);
        return recorded.row.payload.storagePolicies?.includes('tags-hashed') ? recorded : undefined;
      });
      expect(row.payload.request?.tags).toEqual([HASHED]);
      const usage = await eventually('the usage row', async () =>
        (await usageRowsOf(gateway.adminUrl, key.id, 1)).find((line) => line.request_id === requestId),
      );
      expect(usage.tags).toEqual([HASHED]);
    }

    await admin(gateway.adminUrl, 'DELETE', '/admin/guardrails/storage/attachments/team:team-split');
    for (const replica of [0, 1]) {
      const { row } = await eventually(`replica ${replica} to lift the policy`, async () => {
        const recorded = await tagsRecordedBy(replica);
        return (recorded.row.payload.storagePolicies ?? []).length === 0 ? recorded : undefined;
      });
      expect(row.payload.request?.tags).toEqual([TAG]);
    }
  });
});
