import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from './anthropic.js';

const KEY = 'sk-ant-fake-provider-key';
const request = (custom_id: string, model = 'claude-test') => ({
  custom_id,
  params: { model, max_tokens: 100, messages: [{ role: 'user' as const, content: `line ${custom_id}` }] },
});

// The fake's Message Batches API must be what the official SDK calls and parses, or the gateway's handoff to it proves nothing.
describe("fake Anthropic's Message Batches API, checked with the official @anthropic-ai/sdk", () => {
  let fake: FakeAnthropic;
  let client: Anthropic;

  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: KEY });
    client = new Anthropic({ baseURL: fake.url, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('runs a batch: ended, its results a succeeded message and an errored request', async () => {
    const batch = await client.messages.batches.create({ requests: [request('a'), request('b', 'fail-400')] });
    expect(batch).toMatchObject({ type: 'message_batch', processing_status: 'in_progress', request_counts: { processing: 2 } });
    const ended = await client.messages.batches.retrieve(batch.id);
    expect(ended).toMatchObject({ processing_status: 'ended', request_counts: { processing: 0, succeeded: 1, errored: 1 } });
    expect(ended.results_url).toBe(`${fake.url}/v1/messages/batches/${batch.id}/results`);

    const results = [];
    for await (const line of await client.messages.batches.results(batch.id)) results.push(line);
    expect(results).toMatchObject([
      { custom_id: 'a', result: { type: 'succeeded', message: { type: 'message', content: [{ type: 'text', text: 'Fake Anthropic reply to: line a' }] } } },
      { custom_id: 'b', result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error' } } } },
    ]);
  });

  it('cancels a batch held in progress: canceling, then ended with each request canceled', async () => {
    const release = fake.batches.holdBatches();
    try {
      const batch = await client.messages.batches.create({ requests: [request('c')] });
      expect((await client.messages.batches.cancel(batch.id)).processing_status).toBe('canceling');
      const ended = await client.messages.batches.retrieve(batch.id);
      expect(ended).toMatchObject({ processing_status: 'ended', request_counts: { canceled: 1 } });
      expect(ended.cancel_initiated_at).not.toBeNull();
      const results = [];
      for await (const line of await client.messages.batches.results(batch.id)) results.push(line);
      expect(results).toEqual([{ custom_id: 'c', result: { type: 'canceled' } }]);
      expect(fake.batches.cancels).toEqual([batch.id]);
    } finally {
      release();
    }
  });

  it("refuses a custom_id outside Anthropic's pattern", async () => {
    await expect(client.messages.batches.create({ requests: [request('not allowed!')] })).rejects.toMatchObject({ status: 400 });
  });
});
