import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startInProcess, type TestGateway } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type SpendRow = { tag?: string; requests: number; cost_usd: string };
type AuditRow = { event_type: string; payload: { request?: { tags?: string[] } } };

// Finance reports spend by the labels applications put on their requests, as LiteLLM's users do with tags.
describe('tags as a spend dimension', () => {
  let gateway: TestGateway;
  let client: OpenAI;
  let keyId: string;
  const ask = (content: string, options?: OpenAI.RequestOptions, extra: Record<string, unknown> = {}) =>
    client.chat.completions
      .create({ model: 'mock/echo', messages: [{ role: 'user', content }], ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming, options)
      .withResponse();

  beforeAll(async () => {
    gateway = await startInProcess({ routing: { providers: { mock: { type: 'mock' } } }, pricing: { models: { 'mock/echo': { input: 1, output: 2 } } } });
    const key = await gateway.createKey({ name: 'tagged' });
    keyId = key.id;
    client = gateway.client(key.key);
  });
  afterAll(async () => gateway?.stop());

  it('records each request’s tags in its audit row and usage row, and reports spend by tag', async () => {
    const search = await ask('one', { headers: { 'x-gateway-tags': 'app:search,env:prod' } });
    await ask('two', undefined, { metadata: { tags: ['app:search'] } });
    await ask('three', { headers: { 'x-litellm-tags': 'app:billing' } });
    await ask('four');

    const audit = await eventually('the audit row', async () => {
      const page = await admin<{ data: AuditRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${search.response.headers.get('x-request-id')}`);
      return page.data.find((row) => row.event_type === 'request.completed');
    });
    expect(audit.payload.request?.tags).toEqual(['app:search', 'env:prod']);

    const byTag = await eventually('four usage rows', async () => {
      const report = await admin<{ data: SpendRow[]; total: SpendRow }>(gateway.adminUrl, 'GET', `/admin/spend?group_by=tag&key=${keyId}`);
      return report.total.requests === 4 ? report : undefined;
    });
    // A request counts under each of its tags; the untagged one under "".
    expect(byTag.data.map((row) => [row.tag, row.requests])).toEqual([
      ['app:billing', 1],
      ['app:search', 2],
      ['env:prod', 1],
      ['', 1],
    ]);
    const search2 = await admin<{ total: SpendRow }>(gateway.adminUrl, 'GET', `/admin/spend?tag=app:search&key=${keyId}`);
    expect(search2.total.requests).toBe(2);
    expect(Number(search2.total.cost_usd)).toBeGreaterThan(0);
  });

  it('refuses a request whose tags are not tags, in the OpenAI error shape, naming where', async () => {
    const refused = await ask('bad', { headers: { 'x-gateway-tags': 'drop table;' } }).catch((err: unknown) => err);
    expect(refused).toMatchObject({ status: 400, param: 'x-gateway-tags', type: 'invalid_request_error' });
  });
});
