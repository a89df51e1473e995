import type OpenAI from 'openai';
import { toFile } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

const line = (id: string) => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `line ${id}` }] },
});

// Each service its own process: the runner in ingress claims and records lines over gRPC, routing keeps them in PostgreSQL.
describe('batches across the services', () => {
  let fake: FakeOpenAI;
  let gateway: SplitGateway;
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    infra = await isolatedInfra();
    gateway = await startSplit({
      nats: infra.nats,
      database: infra.database,
      ingress: { batches: { concurrency: 1, pollIntervalMs: 200 } },
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-openai' } } },
    });
    client = gateway.client((await gateway.createKey({ name: 'batcher', team: 'batch-team' })).key);
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await infra?.drop();
  });

  const create = async (ids: string[]) => {
    const file = await client.files.create({
      file: await toFile(Buffer.from(ids.map((id) => JSON.stringify(line(id))).join('\n')), 'in.jsonl'),
      purpose: 'batch',
    });
    return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  };
  const contentOf = async (id: string | null | undefined) =>
    id
      ? (await (await client.files.content(id)).text())
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { custom_id: string; error: unknown })
      : [];

  it('runs a batch to completion, its files read back through ingress', async () => {
    const batch = await create(['s1', 's2', 's3']);
    const done = await eventually('completed', async () => {
      const b = await client.batches.retrieve(batch.id);
      return b.status === 'completed' ? b : undefined;
    });
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect((await contentOf(done.output_file_id)).map((l) => l.custom_id)).toEqual(['s1', 's2', 's3']);
  });

  it('ends a batch past its completion window as expired: the lines not run are batch_expired errors', async () => {
    const release = fake.holdAnswers();
    const before = fake.requests.length;
    const batch = await create(['x1', 'x2', 'x3']);
    await eventually('the first line at the provider', async () => (fake.requests.length > before ? true : undefined));
    // 24 hours are not waited for: the window is moved into the past, as the clock would.
    const db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    await db.query("UPDATE routing_batches SET expires_at = now() - interval '1 second' WHERE id = $1", [batch.id]);
    await db.end();
    release();
    const expired = await eventually('expired', async () => {
      const b = await client.batches.retrieve(batch.id);
      return b.status === 'expired' ? b : undefined;
    });
    expect(expired.expired_at).toBeGreaterThan(0);
    expect(fake.requests.length - before).toBe(1);
    expect((await contentOf(expired.output_file_id)).map((l) => l.custom_id)).toEqual(['x1']);
    expect(await contentOf(expired.error_file_id)).toMatchObject([
      { custom_id: 'x2', response: null, error: { code: 'batch_expired' } },
      { custom_id: 'x3', response: null, error: { code: 'batch_expired' } },
    ]);
  });
});
