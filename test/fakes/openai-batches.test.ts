import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './openai.js';

const line = (id: string, model = 'gpt-4o-mini') =>
  JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content: `line ${id}` }] } });

// The fake's Files and Batch APIs must be what the official SDK calls and parses, or the gateway's handoff to them proves nothing.
describe("fake OpenAI's Files and Batch APIs, checked with the official openai SDK", () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-fake-provider-key' });
    client = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'sk-fake-provider-key', maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('runs an uploaded batch: output and error files in the batch line format, with usage', async () => {
    const content = `${line('a')}\n${line('b', 'fail-400')}\n`;
    const file = await client.files.create({ file: await toFile(Buffer.from(content), 'in.jsonl'), purpose: 'batch' });
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', bytes: Buffer.byteLength(content), filename: 'in.jsonl' });
    expect(await (await client.files.content(file.id)).text()).toBe(content);

    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'x' } });
    expect(batch).toMatchObject({ object: 'batch', status: 'in_progress', input_file_id: file.id, metadata: { job: 'x' } });
    const done = await client.batches.retrieve(batch.id);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 1, failed: 1 } });

    const output = (await (await client.files.content(done.output_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(output).toMatchObject([
      {
        custom_id: 'a',
        error: null,
        response: { status_code: 200, body: { object: 'chat.completion', choices: [{ message: { content: 'Fake OpenAI reply to: line a' } }] } },
      },
    ]);
    expect(output[0].response.body.usage.total_tokens).toBeGreaterThan(0);
    const errors = (await (await client.files.content(done.error_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors).toMatchObject([{ custom_id: 'b', response: { status_code: 400, body: { error: { type: 'invalid_request_error' } } } }]);
    expect((await client.batches.list()).data.map((b) => b.id)).toContain(batch.id);
  });

  it('cancels a batch held in progress: cancelling, then cancelled with no line run', async () => {
    const release = fake.batches.holdBatches();
    try {
      const file = await client.files.create({ file: await toFile(Buffer.from(line('c')), 'in.jsonl'), purpose: 'batch' });
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      expect((await client.batches.retrieve(batch.id)).status).toBe('in_progress');
      expect((await client.batches.cancel(batch.id)).status).toBe('cancelling');
      expect(await client.batches.retrieve(batch.id)).toMatchObject({ status: 'cancelled', output_file_id: null });
      expect(fake.batches.cancels).toEqual([batch.id]);
    } finally {
      release();
    }
  });

  it("refuses a batch of a file it does not have, in OpenAI's error shape", async () => {
    await expect(client.batches.create({ input_file_id: 'file-none', endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({
      status: 400,
      param: 'input_file_id',
    });
    await expect(client.batches.retrieve('batch-none')).rejects.toMatchObject({ status: 404 });
  });
});
