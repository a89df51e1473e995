import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const MODEL = 'openai/gpt-4o-mini';
const CLAUDE = 'claude/claude-sonnet-4-5';
/** The catalog prices (services/kit/pricing/catalog.ts) of gpt-4o-mini and claude-sonnet-4-5, USD per million tokens, and the batch share. */
const PRICE = { input: 0.15, output: 0.6 };
const CLAUDE_PRICE = { input: 3, output: 15 };
const BATCH_SHARE = 0.5;

type Line = { custom_id: string; response: { status_code: number; request_id: string; body: Record<string, unknown> } | null; error: unknown };
type UsageRow = { endpoint: string; request_id: string; prompt_tokens: number; completion_tokens: number; cost_usd: string; provider: string; model: string };

const chatLine = (id: string, model = MODEL, extra: Record<string, unknown> = {}) => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content: `line ${id}` }], ...extra },
});
async function upload(client: OpenAI, lines: unknown[]) {
  return client.files.create({ file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n')), 'batch.jsonl'), purpose: 'batch' });
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
/** The key's usage rows of an endpoint (not of its file and batch calls), once there are `count`. */
async function usageRows(adminUrl: string, keyId: string, count: number, endpoint = 'chat.completions'): Promise<UsageRow[]> {
  return eventually(`${count} usage rows of ${keyId}`, async () => {
    const response = await fetch(`${adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const rows = (await response.text())
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as UsageRow)
      .filter((row) => row.endpoint === endpoint);
    return rows.length >= count ? rows : undefined;
  });
}
/** What a line costs at the batch price, in USD with the ledger's 12 decimals. */
const batchCost = (row: UsageRow, price = PRICE) => ((row.prompt_tokens * price.input + row.completion_tokens * price.output) * BATCH_SHARE) / 1e6;

// Batches handed to OpenAI's own Batch API (routing.batches.providerNative), with the official client, in embedded mode.
describe("batches handed to the provider's batch API", () => {
  let fake: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  const config = {
    routing: {
      providers: {
        openai: { type: 'openai', baseUrl: '', apiKey: 'sk-provider' },
        claude: { type: 'anthropic', baseUrl: '', apiKey: 'sk-ant-provider' },
      },
      batches: { providerNative: true, providerPollMs: 100 },
    },
    ingress: { batches: { pollIntervalMs: 100 } },
    guardrails: {
      policies: { contacts: { rules: [{ name: 'emails', detectors: ['email'], direction: 'request', action: 'redact' }] } },
      attach: { teams: { guarded: ['contacts'] } },
    },
  };
  const newKey = async (name: string) => {
    const { id, key } = await gateway.createKey({ name, team: name });
    return { id, client: gateway.client(key) };
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    anthropic = await startFakeAnthropic({ apiKey: 'sk-ant-provider' });
    config.routing.providers.openai.baseUrl = `${fake.url}/v1`;
    config.routing.providers.claude.baseUrl = anthropic.url;
    gateway = await startInProcess(config);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await anthropic?.close();
  });

  it('hands the lines to one provider batch; the output file maps custom_ids; one usage row per line at half the catalog price', async () => {
    const { id: keyId, client } = await newKey('native');
    // $0.001 a day: each line's worst case (1,000 output tokens) is about $0.0003 at the batch price, so all three fit;
    // at the full price the second line's output cap would have been cut to what was left.
    const budget = await admin<{ id: string }>(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: keyId, limit_usd: 0.001, period: 'day' });
    const used = async () => (await admin<{ window: { used_usd: number } }>(gateway.adminUrl, 'GET', `/admin/budgets/${budget.id}`)).window.used_usd;
    const direct = async () => {
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'direct' }], max_tokens: 1_000 });
      return fake.requests.at(-1)!.body.max_tokens;
    };
    const release = fake.batches.holdBatches();
    const created = await client.batches.create({
      input_file_id: (
        await upload(
          client,
          ['c1', 'c2', 'c3'].map((id) => chatLine(id, MODEL, { max_tokens: 1_000 })),
        )
      ).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await eventually('the batch at the provider', async () => fake.batches.created.find((b) => b.metadata?.gateway_batch_id === created.id));
    // While the provider runs it, the lines' worst case is reserved: a request of the key now gets only what is left.
    expect(await direct()).toBeLessThan(1_000);
    const chats = fake.requests.length;
    release();
    const done = await until(client, created.id, ['completed']);
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });

    // One batch at the provider, made of the three lines with the provider's model name; no line sent on its own.
    const [remote] = fake.batches.created.filter((b) => b.metadata?.gateway_batch_id === created.id);
    expect(remote).toMatchObject({ endpoint: '/v1/chat/completions', request_counts: { total: 3 } });
    const sent = fake.batches.files
      .get(remote!.input_file_id)!
      .content.toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(sent.map((l) => [l.body.model, l.body.max_tokens])).toEqual([
      ['gpt-4o-mini', 1_000],
      ['gpt-4o-mini', 1_000],
      ['gpt-4o-mini', 1_000],
    ]);
    expect(fake.requests.length).toBe(chats);

    const output = await linesOf(client, done.output_file_id);
    expect(output.map((l) => [l.custom_id, l.response?.status_code])).toEqual([
      ['c1', 200],
      ['c2', 200],
      ['c3', 200],
    ]);
    expect(output[0]!.response!.body).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'Fake OpenAI reply to: line c1' } }] });
    // The gateway's own ids, never the provider's: each line's request id, and batch_req ids of its own.
    expect(output.map((l) => l.response!.request_id)).toEqual(sent.map((l) => l.custom_id));
    for (const line of output) expect((line as unknown as { id: string }).id).toMatch(/^batch_req_/);

    const answered = new Set(output.map((l) => l.response!.request_id));
    const all = await usageRows(gateway.adminUrl, keyId, 4);
    const rows = all.filter((r) => answered.has(r.request_id));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row).toMatchObject({ provider: 'openai', model: MODEL });
      expect(row.prompt_tokens).toBeGreaterThan(0);
      expect(Number(row.cost_usd)).toBeCloseTo(batchCost(row), 12);
    }
    // Settled from each line's usage: the budget is charged what the requests cost (each rounded up to a micro-dollar),
    // and a request of the key has its whole output cap again.
    const charged = all.reduce((sum, row) => sum + Math.ceil(Number(row.cost_usd) * 1e6 - 1e-6), 0) / 1e6;
    await eventually('the budget settled', async () => ((await used()) === charged ? true : undefined));
    expect(await direct()).toBe(1_000);
    // Each line has its audit record, tagged with the batch.
    for (const line of output) {
      const audit = await eventually(`audit row of ${line.custom_id}`, async () => {
        const page = await admin<{ data: { event_type: string; payload: { request?: { tags?: string[] } } }[] }>(
          gateway.adminUrl,
          'GET',
          `/admin/audit/events?request_id=${line.response!.request_id}`,
        );
        return page.data.find((r) => r.event_type === 'request.completed');
      });
      expect(audit.payload.request?.tags).toEqual([`batch:${created.id}`]);
    }
  });

  it('hands an embeddings batch to OpenAI too, each line priced at half the embedding price', async () => {
    const { id: keyId, client } = await newKey('embedder');
    const lines = ['e1', 'e2'].map((id) => ({
      custom_id: id,
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'openai/text-embedding-3-small', input: `text ${id}` },
    }));
    const batch = await client.batches.create({ input_file_id: (await upload(client, lines)).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const done = await until(client, batch.id, ['completed']);
    expect(fake.batches.created.find((b) => b.metadata?.gateway_batch_id === batch.id)).toMatchObject({ endpoint: '/v1/embeddings' });
    const output = await linesOf(client, done.output_file_id);
    expect(output.map((l) => [l.custom_id, l.response?.body.object])).toEqual([
      ['e1', 'list'],
      ['e2', 'list'],
    ]);
    const rows = await usageRows(gateway.adminUrl, keyId, 2, 'embeddings');
    // text-embedding-3-small: $0.02 per million tokens, halved.
    for (const row of rows) expect(Number(row.cost_usd)).toBeCloseTo((row.prompt_tokens * 0.02 * BATCH_SHARE) / 1e6, 12);
  });

  it("hands Claude lines to Anthropic's Message Batches, translated both ways, at half the catalog price", async () => {
    const { id: keyId, client } = await newKey('claude');
    const created = await client.batches.create({
      input_file_id: (await upload(client, [chatLine('a1', CLAUDE), chatLine('a2', CLAUDE)])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await until(client, created.id, ['completed']);
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    const [remote] = anthropic.batches.created.slice(-1);
    expect(remote!.requests.map((r) => [r.params.model, r.params.messages])).toEqual([
      ['claude-sonnet-4-5', [{ role: 'user', content: 'line a1' }]],
      ['claude-sonnet-4-5', [{ role: 'user', content: 'line a2' }]],
    ]);
    expect(anthropic.requests).toEqual([]);

    const output = await linesOf(client, done.output_file_id);
    expect(output.map((l) => [l.custom_id, l.response?.status_code])).toEqual([
      ['a1', 200],
      ['a2', 200],
    ]);
    expect(output[0]!.response!.body).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'Fake Anthropic reply to: line a1' } }] });
    const rows = await usageRows(gateway.adminUrl, keyId, 2);
    for (const row of rows) {
      expect(row).toMatchObject({ provider: 'claude', model: CLAUDE });
      expect(Number(row.cost_usd)).toBeCloseTo(batchCost(row, CLAUDE_PRICE), 12);
    }
  });

  it("counts a handed-off batch's lines against budgets only, not the key's request, token and concurrency limits", async () => {
    const { id: keyId, client } = await newKey('limited');
    await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${keyId}`, { rpm_limit: 1, tpm_limit: 1_000, max_parallel: 1, rate_window_seconds: 3_600 });
    const release = fake.batches.holdBatches();
    try {
      const batch = await client.batches.create({
        input_file_id: (
          await upload(
            client,
            ['l1', 'l2', 'l3'].map((id) => chatLine(id)),
          )
        ).id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      // While the batch is at the provider, the key's one request a window and one in flight are still its own.
      await eventually('the batch at the provider', async () => fake.batches.created.find((b) => b.metadata?.gateway_batch_id === batch.id));
      await expect(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 })).resolves.toMatchObject({
        object: 'chat.completion',
      });
      release();
      const done = await until(client, batch.id, ['completed']);
      expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    } finally {
      release();
    }
  });

  it('runs a batch of several deployments in the gateway; refuses before any handoff the lines a key may not use', async () => {
    const { id: keyId, client } = await newKey('narrow');
    await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${keyId}`, { allowed_models: ['openai/gpt-4o-mini'] });
    // gpt-4o-mini twice, and a line of another deployment: not one deployment, so this batch runs in the gateway.
    const mixed = await client.batches.create({
      input_file_id: (await upload(client, [chatLine('m1'), chatLine('m2', 'openai/gpt-4o')])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const before = fake.batches.created.length;
    const ranHere = await until(client, mixed.id, ['completed']);
    expect(fake.batches.created.length).toBe(before);
    expect((await linesOf(client, ranHere.error_file_id)).map((l) => [l.custom_id, l.response?.status_code])).toEqual([['m2', 403]]);

    await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${keyId}`, { allowed_models: ['openai/gpt-4o'] });
    const refused = await client.batches.create({
      input_file_id: (await upload(client, [chatLine('r1'), chatLine('r2')])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await until(client, refused.id, ['completed']);
    expect(fake.batches.created.filter((b) => b.metadata?.gateway_batch_id === refused.id)).toEqual([]);
    const errors = await linesOf(client, done.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.response?.status_code])).toEqual([
      ['r1', 403],
      ['r2', 403],
    ]);
    expect(errors[0]!.response!.body).toMatchObject({ error: { code: 'model_not_allowed' } });
  });

  it("runs the batch of a key under guardrail policies in the gateway, which applies them, not at the provider's batch API", async () => {
    const { client } = await newKey('guarded');
    const before = { batches: fake.batches.created.length, chats: fake.requests.length };
    const batch = await client.batches.create({
      input_file_id: (await upload(client, [chatLine('g1', MODEL, { messages: [{ role: 'user', content: 'mail ann@example.com' }] })])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await until(client, batch.id, ['completed']);
    expect(fake.batches.created.length).toBe(before.batches);
    expect(fake.requests.slice(before.chats).map((r) => (r.body.messages as { content: string }[])[0]!.content)).toEqual([
      expect.not.stringContaining('ann@example.com'),
    ]);
  });

  it('makes each line the error of a provider that refuses the upload, at no cost', async () => {
    const { id: keyId, client } = await newKey('refused');
    fake.acceptOnly(['sk-someone-else']);
    try {
      const batch = await client.batches.create({
        input_file_id: (await upload(client, [chatLine('u1')])).id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const done = await until(client, batch.id, ['failed']);
      expect(done.request_counts).toEqual({ total: 1, completed: 0, failed: 1 });
      expect((await linesOf(client, done.error_file_id)).map((l) => [l.custom_id, l.response?.status_code])).toEqual([['u1', 502]]);
      expect((await usageRows(gateway.adminUrl, keyId, 1)).map((r) => Number(r.cost_usd))).toEqual([0]);
    } finally {
      fake.acceptOnly(['sk-provider']);
    }
  });

  it('forwards a cancel to the provider, and the batch ends cancelled with no line charged', async () => {
    const { id: keyId, client } = await newKey('cancel');
    const release = fake.batches.holdBatches();
    try {
      const batch = await client.batches.create({
        input_file_id: (await upload(client, [chatLine('x1'), chatLine('x2')])).id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const remote = await eventually('the batch at the provider', async () => fake.batches.created.find((b) => b.metadata?.gateway_batch_id === batch.id));
      expect((await client.batches.cancel(batch.id)).status).toBe('cancelling');
      const cancelled = await until(client, batch.id, ['cancelled']);
      expect(fake.batches.cancels).toContain(remote.id);
      expect(cancelled.request_counts).toEqual({ total: 2, completed: 0, failed: 0 });
      const rows = await usageRows(gateway.adminUrl, keyId, 2);
      expect(rows.map((r) => Number(r.cost_usd))).toEqual([0, 0]);
    } finally {
      release();
    }
  });

  it('forwards a cancel to Anthropic too', async () => {
    const { client } = await newKey('claude-cancel');
    const release = anthropic.batches.holdBatches();
    try {
      const before = anthropic.batches.created.length;
      const batch = await client.batches.create({
        input_file_id: (await upload(client, [chatLine('y1', CLAUDE)])).id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const remote = await eventually('the batch at Anthropic', async () => anthropic.batches.created[before]);
      await client.batches.cancel(batch.id);
      const cancelled = await until(client, batch.id, ['cancelled']);
      expect(anthropic.batches.cancels).toContain(remote.batch.id);
      expect(cancelled.request_counts).toEqual({ total: 1, completed: 0, failed: 0 });
    } finally {
      release();
    }
  });

  it('resumes polling after a restart, and records each line once', async () => {
    const { id: keyId, client } = await newKey('restart');
    const release = fake.batches.holdBatches();
    const batch = await client.batches.create({
      input_file_id: (await upload(client, [chatLine('s1'), chatLine('s2')])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await eventually('the batch at the provider', async () => fake.batches.created.find((b) => b.metadata?.gateway_batch_id === batch.id));
    await gateway.stop();
    release();
    gateway = await startInProcess({ ...config, dataDir: gateway.dataDir });
    const again = gateway.client((await gateway.createKey({ name: 'restart-2', team: 'restart' })).key);
    const done = await until(again, batch.id, ['completed']);
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(fake.batches.created.filter((b) => b.metadata?.gateway_batch_id === batch.id)).toHaveLength(1);
    const rows = await usageRows(gateway.adminUrl, keyId, 2);
    expect(rows).toHaveLength(2);
  });
});
