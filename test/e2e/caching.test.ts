import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-cache-tests';
const TEAM_B_ADMIN = testToken('team-b-admin');

// The response cache end to end, with the official clients as callers and a
// fake OpenAI that counts what reaches the provider.
describe('response cache', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let teamA: OpenAI;
  let teamA2: OpenAI;
  let teamB: OpenAI;
  let teamAKey: string;
  let teamAKeyId: string;
  let question = 0;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, models: ['gpt-4o-mini', 'text-embedding-3-small'] } },
      },
      governance: { adminTokens: [{ name: 'team-b-lead', token: TEAM_B_ADMIN, role: 'admin', team: 'team-b' }] },
    });
    ({ key: teamAKey, id: teamAKeyId } = await gateway.createKey({ name: 'a1', team: 'team-a' }));
    teamA = gateway.client(teamAKey);
    teamA2 = gateway.client((await gateway.createKey({ name: 'a2', team: 'team-a' })).key);
    teamB = gateway.client((await gateway.createKey({ name: 'b1', team: 'team-b' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  /** A question no other test asked, at temperature 0. */
  const fresh = (extra: Record<string, unknown> = {}) => ({
    model: 'openai/gpt-4o-mini',
    temperature: 0,
    messages: [{ role: 'user' as const, content: `question ${++question}: what is the capital of France?` }],
    ...extra,
  });
  const upstreamCalls = () => fake.requests.filter((r) => r.path === '/v1/chat/completions').length;

  async function ask(client: OpenAI, body: ReturnType<typeof fresh>, headers: Record<string, string> = {}) {
    const { data, response } = await client.chat.completions.create(body, { headers }).withResponse();
    return { text: data.choices[0]!.message.content, data, cache: response.headers.get('x-gateway-cache'), headers: response.headers };
  }

  async function askStreamed(client: OpenAI, body: ReturnType<typeof fresh>, headers: Record<string, string> = {}) {
    const { data: stream, response } = await client.chat.completions
      .create({ ...body, stream: true, stream_options: { include_usage: true } }, { headers })
      .withResponse();
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    return { text, usage, chunks, cache: response.headers.get('x-gateway-cache'), headers: response.headers };
  }

  it('answers a repeated question from the cache, without calling the provider, and says so', async () => {
    const body = fresh();
    const first = await ask(teamA, body);
    const calls = upstreamCalls();
    const second = await ask(teamA, body);
    expect(first.cache).toBe('miss');
    expect(second.cache).toBe('hit');
    expect(upstreamCalls()).toBe(calls);
    expect(second.text).toBe(first.text);
    expect(second.data.usage).toEqual(first.data.usage);
    expect(second.headers.get('x-gateway-cache-match')).toBe('exact');
    expect(second.headers.get('x-gateway-cache-entry')).toMatch(/^ce_[0-9a-f]{16}$/);
    expect(Number(second.headers.get('age'))).toBeGreaterThanOrEqual(0);
    expect(second.headers.get('x-gateway-provider')).toBe('openai');
    // Another wording is another question.
    expect((await ask(teamA, { ...body, messages: [{ role: 'user', content: `${body.messages[0]!.content}?` }] })).cache).toBe('miss');
  });

  it("keeps teams apart: a key of the same team hits, another team's key misses", async () => {
    const body = fresh();
    await ask(teamA, body);
    expect((await ask(teamA2, body)).cache).toBe('hit');
    const calls = upstreamCalls();
    expect((await ask(teamB, body)).cache).toBe('miss');
    expect(upstreamCalls()).toBe(calls + 1);
    expect((await ask(teamB, body)).cache).toBe('hit');
  });

  it('replays a streamed answer to a whole request, and a whole answer as a stream the openai client reads', async () => {
    const streamedFirst = fresh();
    const stream = await askStreamed(teamA, streamedFirst);
    expect(stream.cache).toBe('miss');
    const whole = await ask(teamA, streamedFirst);
    expect(whole.cache).toBe('hit');
    expect(whole.text).toBe(stream.text);
    expect(whole.data.usage?.total_tokens).toBe(stream.usage?.total_tokens);

    const wholeFirst = fresh();
    const answer = await ask(teamA, wholeFirst);
    const calls = upstreamCalls();
    const replayed = await askStreamed(teamA, wholeFirst);
    expect(replayed.cache).toBe('hit');
    expect(upstreamCalls()).toBe(calls);
    expect(replayed.text).toBe(answer.text);
    expect(replayed.usage).toEqual(answer.data.usage);
    expect(replayed.chunks).toBeGreaterThan(3);
    expect(replayed.headers.get('content-type')).toMatch(/^text\/event-stream/);
  });

  it('replays tool calls', async () => {
    const body = fresh({
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    body.messages[0]!.content += ' And the weather there?';
    const first = await ask(teamA, body);
    const second = await askStreamed(teamA, body);
    expect(second.cache).toBe('hit');
    const call = first.data.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    const again = await ask(teamA, body);
    expect(again.data.choices[0]!.message.tool_calls).toEqual(first.data.choices[0]!.message.tool_calls);
    expect(again.data.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('serves Anthropic messages from the cache, streamed to the Anthropic client', async () => {
    const anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: teamAKey, maxRetries: 0 });
    const body = {
      model: 'openai/gpt-4o-mini',
      max_tokens: 200,
      temperature: 0,
      messages: [{ role: 'user' as const, content: `question ${++question} in Messages` }],
    };
    const first = await anthropic.messages.create(body).withResponse();
    expect(first.response.headers.get('x-gateway-cache')).toBe('miss');
    const stream = anthropic.messages.stream(body);
    const replayed = await stream.finalMessage();
    const text = (m: Anthropic.Message) => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    expect(text(replayed)).toBe(text(first.data));
    expect(replayed.usage.output_tokens).toBe(first.data.usage.output_tokens);
  });

  it("follows the request's headers: no-cache, no-store, max-age, a sub-namespace", async () => {
    const body = fresh();
    await ask(teamA, body, { 'cache-control': 'no-store' });
    expect((await ask(teamA, body)).cache).toBe('miss');
    const calls = upstreamCalls();
    expect((await ask(teamA, body, { 'cache-control': 'no-cache' })).cache).toBe('miss');
    expect(upstreamCalls()).toBe(calls + 1);
    expect((await ask(teamA, body, { 'cache-control': 'max-age=3600' })).cache).toBe('hit');
    expect((await ask(teamA, body, { 'cache-control': 'no-cache, no-store' })).cache).toBe('skip');
    // A sub-namespace is its own space inside the team's.
    expect((await ask(teamA, body, { 'x-gateway-cache-namespace': 'docs-bot' })).cache).toBe('miss');
    expect((await ask(teamA2, body, { 'x-gateway-cache-namespace': 'docs-bot' })).cache).toBe('hit');
    expect((await ask(teamB, body, { 'x-gateway-cache-namespace': 'docs-bot' })).cache).toBe('miss');
  });

  it('expires an entry after the TTL the request asked for', async () => {
    const body = fresh();
    await ask(teamA, body, { 'x-gateway-cache-ttl': '1' });
    expect((await ask(teamA, body)).cache).toBe('hit');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await ask(teamA, body)).cache).toBe('miss');
  });

  /** The sum of a metric's samples whose labels include `labels`. */
  async function metric(name: string, labels = ''): Promise<number> {
    const text = await (await fetch(`${gateway.opsUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(labels))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }

  it('does not cache answers at a temperature above 0, and refuses malformed cache headers', async () => {
    await ask(teamA, fresh());
    const [skipped, calls] = [await metric('gateway_cache_lookups_total', 'result="skip"'), upstreamCalls()];
    const body = fresh({ temperature: 0.7 });
    expect((await ask(teamA, body)).cache).toBe('skip');
    expect((await ask(teamA, body)).cache).toBe('skip');
    expect(upstreamCalls() - calls).toBe(2);
    expect((await metric('gateway_cache_lookups_total', 'result="skip"')) - skipped).toBe(2);
    const onlyCached = await ask(teamA, body, { 'cache-control': 'only-if-cached' }).catch((err: unknown) => err);
    expect((onlyCached as APIError).status).toBe(504);
    for (const [header, value, expected] of [
      ['x-gateway-cache-ttl', 'soon', /x-gateway-cache-ttl header: expected a whole number of seconds/],
      ['x-gateway-cache-namespace', '../team-b', /x-gateway-cache-namespace header/],
      ['x-gateway-cache-threshold', '2', /x-gateway-cache-threshold header: expected a number above 0 and at most 1/],
    ] as const) {
      const error = await ask(teamA, fresh(), { [header]: value }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(APIError);
      expect((error as APIError).status).toBe(400);
      expect((error as APIError).message).toMatch(expected);
    }
  });

  it('caches embeddings', async () => {
    const input = `embed me ${++question}`;
    const first = await teamA.embeddings.create({ model: 'openai/text-embedding-3-small', input }).withResponse();
    const second = await teamA.embeddings.create({ model: 'openai/text-embedding-3-small', input }).withResponse();
    expect(first.response.headers.get('x-gateway-cache')).toBe('miss');
    expect(second.response.headers.get('x-gateway-cache')).toBe('hit');
    expect(second.data.data[0]!.embedding).toEqual(first.data.data[0]!.embedding);
  });

  it('a key with cache_scope "key" shares no entries, not even with its team', async () => {
    const { key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'private', team: 'team-a', cache_scope: 'key' });
    const own = gateway.client(key);
    const body = fresh();
    await ask(teamA, body);
    expect((await ask(own, body)).cache).toBe('miss');
    expect((await ask(own, body)).cache).toBe('hit');
  });

  it("lets operators list and purge by entry or key, and a team's admin only its own team's", async () => {
    const body = fresh();
    await ask(teamA, body);
    const entry = (await ask(teamA, body)).headers.get('x-gateway-cache-entry')!;
    const asTeamB = (method: string, path: string) => fetch(`${gateway.adminUrl}${path}`, { method, headers: { authorization: `Bearer ${TEAM_B_ADMIN}` } });
    expect((await asTeamB('GET', '/admin/cache/entries?namespace=team:team-a')).status).toBe(403);
    expect((await asTeamB('DELETE', `/admin/cache/entries?entry=${entry}`)).status).toBe(404);
    expect((await asTeamB('DELETE', '/admin/cache/entries?all=true')).status).toBe(403);
    const own = (await (await asTeamB('GET', '/admin/cache/entries?namespace=team:team-b')).json()) as { data: { namespace: string }[] };
    expect(own.data.length).toBeGreaterThan(0);
    expect(own.data.every((e) => e.namespace.startsWith('team:team-b'))).toBe(true);
    expect((await fetch(`${gateway.adminUrl}/admin/cache/entries`, { method: 'DELETE', headers: { authorization: `Bearer ${TEAM_B_ADMIN}` } })).status).toBe(
      400,
    );

    expect(await admin(gateway.adminUrl, 'DELETE', `/admin/cache/entries?entry=${entry}`)).toEqual({ purged: 1 });
    expect((await ask(teamA, body)).cache).toBe('miss');
    const byKey = await admin<{ purged: number }>(gateway.adminUrl, 'DELETE', `/admin/cache/entries?key=${teamAKeyId}`);
    expect(byKey.purged).toBeGreaterThan(0);
    const left = await admin<{ data: { key_id: string }[] }>(gateway.adminUrl, 'GET', '/admin/cache/entries?namespace=team:team-a');
    expect(left.data.filter((e) => e.key_id === teamAKeyId)).toEqual([]);
  });

  it('records a hit in the audit log as answered from the cache, and in the ledger at no cost with what it saved', async () => {
    const body = fresh();
    await ask(teamA, body);
    const hit = await ask(teamA, body);
    const requestId = hit.headers.get('x-request-id')!;
    const audit = await eventually('the audit record', async () => {
      const page = await admin<{ data: { payload: { request?: { cacheHit?: boolean; served?: { provider: string } } } }[] }>(
        gateway.adminUrl,
        'GET',
        `/admin/audit/events?request_id=${requestId}`,
      );
      return page.data[0];
    });
    expect(audit.payload.request).toMatchObject({ cacheHit: true, served: { provider: 'openai' } });
    const row = await eventually('the usage row', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${teamAKeyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const rows = (await response.text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { request_id: string; cache_hit: boolean; cost_usd: string; saved_usd: string });
      return rows.find((r) => r.request_id === requestId);
    });
    expect(row.cache_hit).toBe(true);
    expect(Number(row.cost_usd)).toBe(0);
    expect(Number(row.saved_usd)).toBeGreaterThan(0);
  });
});
