import type OpenAI from 'openai';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

const line = (id: string) => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `line ${id}` }] },
});

// Each service its own process: ingress admits the lines over gRPC, routing (which alone has the provider's key)
// hands them to the provider's batch API, and the lines' records reach metering as any request's do.
describe("batches handed to the provider's batch API, across the services", () => {
  let fake: FakeOpenAI;
  let gateway: SplitGateway;
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    infra = await isolatedInfra();
    gateway = await startSplit({
      nats: infra.nats,
      database: infra.database,
      ingress: { batches: { pollIntervalMs: 100 } },
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-openai' } },
        batches: { providerNative: true, providerPollMs: 100 },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await infra?.drop();
  });

  it('hands a batch off, and records each line with its usage at half the catalog price', async () => {
    const { id: keyId, key } = await gateway.createKey({ name: 'batcher', team: 'batch-team' });
    const client: OpenAI = gateway.client(key);
    const file = await client.files.create({
      file: await toFile(Buffer.from(['p1', 'p2'].map((id) => JSON.stringify(line(id))).join('\n')), 'in.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await eventually('completed', async () => {
      const b = await client.batches.retrieve(batch.id);
      return b.status === 'completed' ? b : undefined;
    });
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(fake.batches.created).toHaveLength(1);
    expect(fake.requests).toEqual([]);

    const rows = await eventually('two usage rows', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const found = (await response.text())
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { endpoint: string; prompt_tokens: number; completion_tokens: number; cost_usd: string })
        .filter((row) => row.endpoint === 'chat.completions');
      return found.length >= 2 ? found : undefined;
    });
    // gpt-4o-mini: $0.15 and $0.60 per million tokens, halved.
    for (const row of rows) expect(Number(row.cost_usd)).toBeCloseTo(((row.prompt_tokens * 0.15 + row.completion_tokens * 0.6) * 0.5) / 1e6, 12);
  });
});
