import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGemini, type FakeGemini } from '../fakes/gemini.js';
import { ADMIN_TOKEN, admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type Row = Record<string, unknown>;

const GEMINI_KEY = 'AIza-gemini-passthrough-provider-key';
const GENERATE = '/gemini/v1beta/models/{model}:generateContent';

// Gemini's own API passed through at /gemini, with the official @google/genai SDK pointed at it: the gateway key in
// x-goog-api-key (what the SDK sends) or ?key=, never forwarded; the model read from the path and admitted as
// <provider>/<model>; the output cap written into generationConfig.maxOutputTokens; metered from usageMetadata.
describe('Gemini passthrough', () => {
  let fake: FakeGemini;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let root: string;

  beforeAll(async () => {
    fake = await startFakeGemini({ apiKey: GEMINI_KEY });
    gateway = await startInProcess({ routing: { providers: { google: { type: 'gemini', baseUrl: fake.url, apiKey: GEMINI_KEY } } } });
    root = gateway.baseURL.replace(/\/v1$/, '');
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  async function caller(options: { allowedModels?: string[]; budgetUsd?: number } = {}) {
    const { id, key } = await gateway.createKey({ name: 'gemini-native' });
    if (options.budgetUsd !== undefined) {
      await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: options.budgetUsd, period: 'day' });
    }
    if (options.allowedModels) await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${id}`, { allowed_models: options.allowedModels });
    return { id, key, genai: new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${root}/gemini` } }) };
  }

  /** The key's ledger rows, once `rows` are written. */
  async function usageRows(keyId: string, rows: number) {
    return eventually('the usage rows', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const lines = (await response.text()).trim().split('\n').filter(Boolean);
      return lines.length >= rows ? lines.map((line) => JSON.parse(line) as Row) : undefined;
    });
  }

  /** What the provider was sent, and that it saw its own key and never the caller's. */
  function lastSent(key: string) {
    const sent = fake.requests.at(-1)!;
    expect(sent.headers['x-goog-api-key']).toBe(GEMINI_KEY);
    expect(sent.query.key).toBeUndefined();
    expect(JSON.stringify([sent.headers, sent.query])).not.toContain(key);
    return sent;
  }

  it('serves generateContent to the SDK on the provider key, capped, metered and audited once', async () => {
    const { id, key, genai } = await caller({ budgetUsd: 1 });
    const response = await genai.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Hello Gemini',
      config: { systemInstruction: 'Be brief.', maxOutputTokens: 1_000_000 },
    });
    expect(response.text).toBe('Fake Gemini reply to: Hello Gemini');
    const sent = lastSent(key);
    expect(sent.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(sent.body).toMatchObject({ systemInstruction: { parts: [{ text: 'Be brief.' }] } });
    // A million output tokens would cost $2.50, over the key's $1 budget: lowered to the output governance reserved for.
    const cap = (sent.body.generationConfig as { maxOutputTokens: number }).maxOutputTokens;
    expect(cap).toBeGreaterThan(0);
    expect(cap).toBeLessThan(1_000_000);

    const [row] = await usageRows(id, 1);
    const meta = response.usageMetadata!;
    expect(row).toMatchObject({
      endpoint: GENERATE,
      model: 'google/gemini-2.5-flash',
      provider: 'google',
      provider_model: 'gemini-2.5-flash',
      prompt_tokens: meta.promptTokenCount,
      completion_tokens: meta.candidatesTokenCount,
      stream: false,
    });
    // gemini-2.5-flash at $0.30 in and $2.50 out per million tokens.
    expect(Number(row!.cost_usd)).toBeCloseTo((meta.promptTokenCount! * 0.3 + meta.candidatesTokenCount! * 2.5) / 1e6, 12);
    const audit = await eventually('the audit rows', async () => {
      const page = await admin<{ data: { event_type: string }[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${String(row!.request_id)}`);
      return page.data.length ? page.data : undefined;
    });
    expect(audit.map((event) => event.event_type)).toEqual(['request.completed']);
    expect(JSON.stringify(audit)).not.toContain(GEMINI_KEY);
  });

  it('streams streamGenerateContent as the provider sends it, metered from the last chunk', async () => {
    const { id, key, genai } = await caller();
    let text = '';
    let last: { promptTokenCount?: number; candidatesTokenCount?: number } | undefined;
    let chunks = 0;
    for await (const chunk of await genai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Stream to me please' })) {
      chunks++;
      text += chunk.text ?? '';
      last = chunk.usageMetadata ?? last;
    }
    expect(text).toBe('Fake Gemini reply to: Stream to me please');
    expect(chunks).toBeGreaterThan(2);
    const sent = lastSent(key);
    expect(sent).toMatchObject({ path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent', query: { alt: 'sse' } });
    const [row] = await usageRows(id, 1);
    expect(row).toMatchObject({
      endpoint: '/gemini/v1beta/models/{model}:streamGenerateContent',
      outcome: 'completed',
      stream: true,
      prompt_tokens: last!.promptTokenCount,
      completion_tokens: last!.candidatesTokenCount,
    });
  });

  it('counts tokens for free and embeds, metered from the text Google answers no usage for', async () => {
    const { id, key, genai } = await caller();
    const counted = await genai.models.countTokens({ model: 'gemini-2.5-flash', contents: 'How many tokens is this?' });
    expect(counted.totalTokens).toBeGreaterThan(0);
    expect(lastSent(key).path).toBe('/v1beta/models/gemini-2.5-flash:countTokens');
    // The SDK embeds with batchEmbedContents, each request naming the path's model (which the API checks).
    const embedded = await genai.models.embedContent({ model: 'gemini-embedding-001', contents: ['one two', 'three'], config: { outputDimensionality: 8 } });
    expect(embedded.embeddings?.map((embedding) => embedding.values?.length)).toEqual([8, 8]);
    expect(lastSent(key).path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    // A model named inside the batch is the path's (admitted) one when sent: it reaches nothing else.
    const smuggled = await fetch(`${root}/gemini/v1beta/models/gemini-embedding-001:batchEmbedContents`, {
      method: 'POST',
      headers: { 'x-goog-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: [{ model: 'models/gemini-2.5-pro', content: { parts: [{ text: 'four' }] } }] }),
    });
    expect(smuggled.status).toBe(200);
    expect(lastSent(key).body).toEqual({ requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'four' }] } }] });
    const rows = await usageRows(id, 3);
    const byEndpoint = Object.fromEntries(rows.map((row) => [row.endpoint, row]));
    expect(byEndpoint['/gemini/v1beta/models/{model}:countTokens']).toMatchObject({ total_tokens: 0, cost_usd: '0.000000000000' });
    // "one two" and "three" at four characters a token: 2 + 2.
    const embeddings = rows.filter((row) => row.endpoint === '/gemini/v1beta/models/{model}:batchEmbedContents');
    expect(embeddings.map((row) => [row.model, row.prompt_tokens, row.completion_tokens]).sort()).toEqual([
      ['google/gemini-embedding-001', 1, 0],
      ['google/gemini-embedding-001', 4, 0],
    ]);
  });

  it('takes the gateway key from ?key=, as the REST reference allows, and passes it on nowhere', async () => {
    const { id, key } = await caller();
    const response = await fetch(`${root}/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=${key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'by query' }] }] }),
    });
    expect(response.status).toBe(200);
    expect(lastSent(key).path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect((await usageRows(id, 1))[0]).toMatchObject({ endpoint: GENERATE, outcome: 'completed' });
  });

  /** The refusal an SDK call ends in. */
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => expect.unreachable('the call was refused'),
      (err: unknown) => err as ApiError,
    );

  it("refuses Google-run tools and account-scoped caches in Google's error shape, and passes tools the client runs", async () => {
    const { key, genai } = await caller();
    const before = fake.requests.length;
    for (const [tool, param] of [
      [{ googleSearch: {} }, 'tools[0].googleSearch'],
      [{ codeExecution: {} }, 'tools[0].codeExecution'],
      [{ urlContext: {} }, 'tools[0].urlContext'],
    ] as const) {
      const refused = await refusal(genai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'look it up', config: { tools: [tool] } }));
      expect(refused).toBeInstanceOf(ApiError);
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.message)).toMatchObject({
        error: { code: 400, status: 'INVALID_ARGUMENT', message: expect.stringContaining(param.split('.')[1]!) },
      });
    }
    const cached = await refusal(
      genai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x', config: { cachedContent: 'cachedContents/of-someone-else' } }),
    );
    expect(cached.message).toContain('cachedContent');
    // A token count's whole generateContentRequest is read the same way.
    const count = await fetch(`${root}/gemini/v1beta/models/gemini-2.5-flash:countTokens`, {
      method: 'POST',
      headers: { 'x-goog-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({
        generateContentRequest: { model: 'models/gemini-2.5-flash', contents: [{ parts: [{ text: 'x' }] }], tools: [{ googleSearch: {} }] },
      }),
    });
    expect(count.status).toBe(400);
    expect(((await count.json()) as { error: { message: string } }).error.message).toContain('googleSearch');
    expect(fake.requests.length).toBe(before);

    const functions = [
      { functionDeclarations: [{ name: 'get_weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] },
      { computerUse: { environment: 'ENVIRONMENT_BROWSER' } },
    ];
    const called = await genai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'weather in Paris?', config: { tools: functions as never } });
    expect(called.functionCalls?.[0]).toMatchObject({ name: 'get_weather', args: { city: 'Paris' } });
    expect(lastSent(key).body.tools).toEqual(functions);
  });

  it("ends a stream the provider cut short with an error event in Google's shape, recorded as failed; a blocked prompt completes", async () => {
    const { id, key } = await caller();
    const stream = (model: string) =>
      fetch(`${root}/gemini/v1beta/models/${model}:streamGenerateContent?alt=sse`, {
        method: 'POST',
        headers: { 'x-goog-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'one two three four' }] }] }),
      }).then((response) => response.text());
    const cut = (await stream('break-stream')).trim().split(/\r?\n\r?\n/);
    expect(cut).toHaveLength(3);
    expect(JSON.parse(cut[2]!.replace(/^data: /, ''))).toMatchObject({
      error: { code: 502, status: 'INTERNAL', message: 'Provider google is unreachable.' },
    });
    const blocked = await stream('blocked');
    expect(blocked).toContain('"blockReason":"SAFETY"');
    const rows = await usageRows(id, 2);
    expect(Object.fromEntries(rows.map((row) => [row.provider_model, row.outcome]))).toEqual({ 'break-stream': 'failed', blocked: 'completed' });
  });

  it('refuses a model the key may not use, other paths, and a stream not asked as SSE, before any provider call', async () => {
    const { key, genai } = await caller({ allowedModels: ['google/gemini-2.5-flash-lite'] });
    const before = fake.requests.length;
    const refused = await refusal(genai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'not this one' }));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.message)).toMatchObject({
      error: { code: 403, status: 'PERMISSION_DENIED', message: expect.stringContaining('google/gemini-2.5-flash') },
    });

    const headers = { 'x-goog-api-key': key, 'content-type': 'application/json' };
    const body = JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] });
    for (const path of [
      '/v1beta/cachedContents',
      '/v1beta/files',
      '/v1beta/tunedModels/mine:generateContent',
      '/v1beta/models/gemini-2.5-flash-lite:predict',
    ]) {
      const response = await fetch(`${root}/gemini${path}`, { method: 'POST', headers, body });
      expect(response.status).toBe(404);
      const error = ((await response.json()) as { error: { status: string; message: string } }).error;
      expect(error).toMatchObject({ status: 'NOT_FOUND', message: expect.stringContaining('POST /gemini/v1beta/models/{model}:generateContent') });
    }
    const notSse = await fetch(`${root}/gemini/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent`, { method: 'POST', headers, body });
    expect(notSse.status).toBe(400);
    expect(((await notSse.json()) as { error: { message: string } }).error.message).toContain('?alt=sse');
    expect(fake.requests.length).toBe(before);
  });

  it("refuses a caller holding only the provider's key, and passes the provider's own refusal on in its status", async () => {
    const stranger = new GoogleGenAI({ apiKey: GEMINI_KEY, httpOptions: { baseUrl: `${root}/gemini` } });
    const before = fake.requests.length;
    expect((await refusal(stranger.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }))).status).toBe(401);
    expect(fake.requests.length).toBe(before);
    const { genai } = await caller();
    const failed = await refusal(genai.models.generateContent({ model: 'fail-400', contents: 'x' }));
    expect(failed.status).toBe(400);
    expect(JSON.parse(failed.message)).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
  });
});
