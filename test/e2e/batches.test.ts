import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const MODEL = 'openai/gpt-4o-mini';
type Line = { custom_id: string; response: { status_code: number; request_id: string; body: Record<string, unknown> } | null; error: unknown };
type AuditRow = { event_type: string; payload: { request?: { tags?: string[]; endpoint?: string } } };

const chatLine = (id: string, extra: Record<string, unknown> = {}) => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: MODEL, messages: [{ role: 'user', content: `line ${id}` }], ...extra },
});
const jsonl = (lines: unknown[]) => lines.map((line) => JSON.stringify(line)).join('\n');
/** The custom ids the fake provider was asked, in order. */
const askedIds = (fake: FakeOpenAI) =>
  fake.requests.map((r) => String((r.body.messages as { content: string }[] | undefined)?.[0]?.content ?? '').replace(/^line /, ''));

async function upload(client: OpenAI, lines: unknown[]) {
  return client.files.create({ file: await toFile(Buffer.from(jsonl(lines)), 'batch.jsonl'), purpose: 'batch' });
}
async function until(client: OpenAI, id: string, statuses: Batch['status'][]): Promise<Batch> {
  return eventually(`batch ${id} ${statuses.join('/')}`, async () => {
    const batch = await client.batches.retrieve(id);
    return statuses.includes(batch.status) ? batch : undefined;
  });
}
async function linesOf(client: OpenAI, fileId: string | null | undefined): Promise<Line[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Line);
}

// The Batch API with the official client, in embedded mode: files, batches run through the gateway, cancel, restart.
describe('files and batches', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let alpha: OpenAI;
  let alphaKey: string;
  let alphaOther: OpenAI;
  let beta: OpenAI;
  const config = {
    routing: { providers: { openai: { type: 'openai', baseUrl: '', apiKey: 'sk-provider' } } },
    ingress: { maxUploadBytes: 64 * 1024, batches: { concurrency: 1, pollIntervalMs: 200 } },
    pricing: { models: { 'openai/talker': { input: 1_000, output: 1_000 } } },
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    config.routing.providers.openai.baseUrl = `${fake.url}/v1`;
    gateway = await startInProcess(config);
    alphaKey = (await gateway.createKey({ name: 'alpha-1', team: 'alpha' })).key;
    alpha = gateway.client(alphaKey);
    alphaOther = gateway.client((await gateway.createKey({ name: 'alpha-2', team: 'alpha' })).key);
    beta = gateway.client((await gateway.createKey({ name: 'beta', team: 'beta' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  it("keeps a tenant's files: uploaded, listed, read and deleted by its keys; 404 for any other team's key", async () => {
    const content = jsonl([chatLine('a')]);
    const file = await alpha.files.create({ file: await toFile(Buffer.from(content), 'input.jsonl'), purpose: 'batch' });
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl', bytes: Buffer.byteLength(content), status: 'processed' });

    expect((await alphaOther.files.retrieve(file.id)).id).toBe(file.id);
    expect(await (await alphaOther.files.content(file.id)).text()).toBe(content);
    const listed = [];
    for await (const f of alphaOther.files.list({ purpose: 'batch' })) listed.push(f.id);
    expect(listed).toContain(file.id);

    for (const attempt of [() => beta.files.retrieve(file.id), () => beta.files.content(file.id), () => beta.files.delete(file.id)]) {
      await expect(attempt()).rejects.toMatchObject({ status: 404, type: 'invalid_request_error' });
    }
    for await (const f of beta.files.list()) expect(f.id).not.toBe(file.id);
    await expect(beta.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({
      status: 404,
      param: 'input_file_id',
    });

    expect(await alpha.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true });
    await expect(alpha.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('takes no key from a batch-line header a client sends: such a request must present a key', async () => {
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gateway-batch-line': 'a'.repeat(64) },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'missing_api_key' } });
  });

  it('refuses an upload over ingress.maxUploadBytes with 413, and a purpose other than batch with 400', async () => {
    const big = await toFile(Buffer.alloc(64 * 1024 + 1, 'x'), 'big.jsonl');
    await expect(alpha.files.create({ file: big, purpose: 'batch' })).rejects.toMatchObject({ status: 413, param: 'file' });
    const small = await toFile(Buffer.from('{}'), 'x.jsonl');
    await expect(alpha.files.create({ file: small, purpose: 'fine-tune' })).rejects.toMatchObject({ status: 400, param: 'purpose' });
  });

  it('runs a chat batch and an embeddings batch through the gateway: output file, request counts, a tagged audit and usage row per line', async () => {
    const input = await upload(alpha, [chatLine('c1'), chatLine('c2'), chatLine('c3', { model: 'openai/fail-400' })]);
    const created = await alpha.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'x' } });
    expect(created).toMatchObject({ object: 'batch', status: 'in_progress', input_file_id: input.id, metadata: { job: 'x' } });

    const done = await until(alphaOther, created.id, ['completed']);
    expect(done.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    expect(done.completed_at).toBeGreaterThan(0);
    const output = await linesOf(alpha, done.output_file_id);
    expect(output.map((l) => [l.custom_id, l.response?.status_code])).toEqual([
      ['c1', 200],
      ['c2', 200],
    ]);
    expect(output[0]!.response!.body).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'Fake OpenAI reply to: line c1' } }] });
    const errors = await linesOf(alpha, done.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.response?.status_code])).toEqual([['c3', 400]]);
    expect(errors[0]!.response!.body).toMatchObject({ error: { message: expect.stringContaining('temperature') } });

    // Each line is a request of its own: its audit row is tagged with the batch.
    for (const line of [...output, ...errors]) {
      const row = await eventually(`audit row of ${line.custom_id}`, async () => {
        const page = await admin<{ data: AuditRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${line.response!.request_id}`);
        return page.data.find((r) => r.event_type.startsWith('request.'));
      });
      expect(row.payload.request?.tags).toEqual([`batch:${created.id}`]);
    }
    const spend = await eventually('usage rows by tag', async () => {
      const report = await admin<{ data: { tag?: string; requests: number }[] }>(gateway.adminUrl, 'GET', `/admin/spend?group_by=tag&tag=batch:${created.id}`);
      return report.data.find((r) => r.tag === `batch:${created.id}` && r.requests === 3);
    });
    expect(spend.requests).toBe(3);

    const embeddings = await upload(alpha, [
      { custom_id: 'e1', method: 'POST', url: '/v1/embeddings', body: { model: 'openai/text-embedding-3-small', input: 'hello' } },
    ]);
    const batch = await alpha.batches.create({ input_file_id: embeddings.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const finished = await until(alpha, batch.id, ['completed']);
    const [line] = await linesOf(alpha, finished.output_file_id);
    expect(line).toMatchObject({ custom_id: 'e1', response: { status_code: 200, body: { object: 'list', data: [{ object: 'embedding' }] } } });

    // Listed for the team, newest first; not for another team.
    const listed = await alpha.batches.list({ limit: 2 });
    expect(listed.data.map((b) => b.id)).toEqual([batch.id, created.id]);
    expect((await beta.batches.list()).data).toEqual([]);
    await expect(beta.batches.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(beta.batches.cancel(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(beta.files.content(done.output_file_id!)).rejects.toMatchObject({ status: 404 });
  });

  it("fails a batch whose input has bad lines, listing each in OpenAI's errors shape, and runs none of it", async () => {
    const calls = fake.requests.length;
    const input = await upload(alpha, [
      chatLine('ok'),
      'not json',
      { ...chatLine('ok') },
      { ...chatLine('other-url'), url: '/v1/embeddings' },
      { custom_id: 'no-body', method: 'POST', url: '/v1/chat/completions' },
    ]);
    const batch = await alpha.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.map((e) => [e.line, e.code, e.param])).toEqual([
      [2, 'invalid_json_line', null],
      [3, 'duplicate_custom_id', 'custom_id'],
      [4, 'invalid_url', 'url'],
      [5, 'missing_required_parameter', 'body'],
    ]);
    expect(fake.requests.length).toBe(calls);
    await expect(alpha.batches.create({ input_file_id: input.id, endpoint: '/v1/images/generations', completion_window: '24h' })).rejects.toMatchObject({
      status: 400,
      param: 'endpoint',
    });
    await expect(alpha.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '1h' as '24h' })).rejects.toMatchObject({
      status: 400,
      param: 'completion_window',
    });
  });

  it('makes the lines past an exhausted budget errors (402 budget_exceeded), and the batch still completes', async () => {
    const { id, key } = await gateway.createKey({ name: 'frugal', team: 'frugal' });
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: 1, period: 'day' });
    const client = gateway.client(key);
    // The talker answers with all 300 tokens it may and bills its prompt by the byte: each line costs over $0.3 of the
    // $1 at $0.001 a token, what it reserved, so the budget holds two or three lines of the six, not all.
    const ids = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'];
    const lines = ids.map((n) => chatLine(n, { model: 'openai/talker', max_tokens: 300 }));
    const batch = await client.batches.create({ input_file_id: (await upload(client, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await until(client, batch.id, ['completed']);
    const output = await linesOf(client, done.output_file_id);
    const errors = await linesOf(client, done.error_file_id);
    expect(output.length).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(done.request_counts).toEqual({ total: 6, completed: output.length, failed: errors.length });
    // One line at a time: those that ran before the budget was spent, then only refusals, in the client's error shape.
    expect([...output, ...errors].map((l) => l.custom_id)).toEqual(ids);
    for (const line of errors) expect(line.response).toMatchObject({ status_code: 402, body: { error: { code: 'budget_exceeded' } } });
  });

  it('cancels a batch: the line running ends, no line starts after it, and the batch ends cancelled with what ran', async () => {
    const release = fake.holdAnswers();
    const before = fake.requests.length;
    const input = await upload(alpha, [chatLine('x1'), chatLine('x2'), chatLine('x3')]);
    const batch = await alpha.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await eventually('the first line at the provider', async () => (fake.requests.length > before ? true : undefined));
    const cancelling = await alpha.batches.cancel(batch.id);
    expect(cancelling.status).toBe('cancelling');
    release();
    const cancelled = await until(alpha, batch.id, ['cancelled']);
    expect(cancelled.cancelled_at).toBeGreaterThan(0);
    expect(askedIds(fake).slice(before)).toEqual(['x1']);
    expect(cancelled.request_counts).toEqual({ total: 3, completed: 1, failed: 0 });
    expect((await linesOf(alpha, cancelled.output_file_id)).map((l) => l.custom_id)).toEqual(['x1']);
    await expect(alpha.batches.cancel(batch.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('resumes a batch after a restart without running a line that had ended twice', async () => {
    const release = fake.holdAnswers();
    const before = fake.requests.length;
    const input = await upload(alpha, [chatLine('r1'), chatLine('r2'), chatLine('r3')]);
    const batch = await alpha.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await eventually('the first line at the provider', async () => (fake.requests.length > before ? true : undefined));
    // Stopping lets the running line end (and be recorded) and starts no other.
    const stopping = gateway.stop();
    release();
    await stopping;
    expect(askedIds(fake).slice(before)).toEqual(['r1']);

    gateway = await startInProcess({ ...config, dataDir: gateway.dataDir });
    alpha = gateway.client(alphaKey);
    const done = await until(alpha, batch.id, ['completed']);
    expect(askedIds(fake).slice(before)).toEqual(['r1', 'r2', 'r3']);
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect((await linesOf(alpha, done.output_file_id)).map((l) => l.custom_id)).toEqual(['r1', 'r2', 'r3']);
  });
});
