import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeOtlp, type FakeOtlp } from '../fakes/otlp.js';
import { startFakeSplunk, type FakeSplunk } from '../fakes/splunk.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-storage-scan';
// Planted values, shaped as their detectors expect, never real; each goes where the storage policy withholds it.
const EMAIL = 'carol.planted@example.org';
const CARD = '4000 0566 5566 5556';
const PHONE = '+44 20 7946 0321';
const TAG_VALUE = 'client:zephyr-planted';
const PLANTED = [EMAIL, CARD, PHONE, TAG_VALUE];

/** Every file under a folder, whole, as text (binary files too: a planted value is stored as its UTF-8 bytes). */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [{ path, text: readFileSync(path).toString('latin1') }];
  });
}
const latin1 = (value: string) => Buffer.from(value, 'utf8').toString('latin1');

// The check of one redaction policy: after requests full of planted
// values from a caller whose storage policy withholds them, none is anywhere
// the gateway keeps or sends data: its log, its database files (audit, usage,
// cache, stored responses, write-ahead log), its event spool, its SIEM stream,
// its exported spans.
describe('storage policies: nothing withheld is kept anywhere', () => {
  let fake: FakeOpenAI;
  let weather: FakeMcpHttpServer;
  let splunk: FakeSplunk;
  let otlp: FakeOtlp;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let client: OpenAI;
  let key: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    weather = await startMcpHttpServer('weather', weatherTools());
    splunk = await startFakeSplunk();
    otlp = await startFakeOtlp();
    gateway = await startInProcess({
      // Spans may carry prompts and answers: the storage policy must still keep them out.
      telemetry: { traces: { endpoint: otlp.endpoint, includeContent: true } },
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
        mcp: { servers: { weather: { transport: 'http', url: weather.url } } },
      },
      audit: { sinks: [{ type: 'splunk', name: 'soc', url: splunk.url, token: splunk.token, format: 'native', maxBatch: 5 }] },
      guardrails: {
        storage: {
          hashKey: 'storage-scan-hash-key-0123456789',
          policies: { withheld: { prompt: 'drop', completion: 'drop', toolArguments: 'redact', metadata: 'hash' } },
          attach: { global: ['withheld'] },
        },
      },
    });
    await eventually('the MCP server connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data[0]?.state === 'ready' ? true : undefined;
    });
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/weather/approve');
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'scanned', name: 'Scanned' });
    ({ key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
      name: 'scanned',
      team: 'scanned',
      allowed_tools: ['weather.*'],
      content_logging: true,
    }));
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: key });
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([weather?.close(), splunk?.close(), fake?.close(), otlp?.close()]);
  });

  it('sends the planted values where they must go, and keeps none of them', async () => {
    const prompt = `Write to ${EMAIL} or call ${PHONE}; charge card ${CARD}.`;
    const requests: string[] = [];
    const tagged = { headers: { 'x-gateway-tags': TAG_VALUE } };
    for (const body of [{ temperature: 0 }, { temperature: 0 }, { stream: true as const }]) {
      const { response } = await client.chat.completions
        .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: prompt }], ...body }, tagged)
        .withResponse();
      requests.push(response.headers.get('x-request-id')!);
    }
    // A provider's error that quotes the prompt, after the stream began: in the request's record and ingress's log.
    const { data: failing, response: failed } = await client.chat.completions
      .create({ model: 'openai/error-stream', messages: [{ role: 'user', content: prompt }], stream: true }, tagged)
      .withResponse();
    await expect(
      (async () => {
        for await (const _ of failing);
      })(),
    ).rejects.toThrow(/could not finish its answer/);
    requests.push(failed.headers.get('x-request-id')!);
    const stored = await client.responses.create({ model: 'openai/gpt-4o-mini', input: prompt }, tagged);
    await expect(client.responses.retrieve(stored.id)).rejects.toMatchObject({ status: 404 });
    const executed = await fetch(`${gateway.baseURL}/mcp/tools/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'call_1', type: 'function', function: { name: 'weather__get_forecast', arguments: JSON.stringify({ city: EMAIL }) } }),
    });
    expect(executed.status).toBe(200);

    // The values went where the caller sent them: the provider saw the prompt, and the answers repeated it.
    expect(JSON.stringify(fake.requests.map((r) => r.body))).toContain(EMAIL);
    expect(weather.calls.map((call) => JSON.stringify(call))).toEqual([expect.stringContaining(EMAIL)]);

    // Every record is in: audit rows, usage rows, and the SIEM stream (the three chats, the response, the tool call).
    await eventually('the records written and streamed', async () => {
      const audit = await (await fetch(`${gateway.adminUrl}/admin/audit/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
      const usage = await (await fetch(`${gateway.adminUrl}/admin/usage/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
      const streamed = JSON.stringify(splunk.received);
      const all = requests.every((id) => audit.includes(id) && usage.includes(id) && streamed.includes(id)) && streamed.includes('tool.called');
      return all ? true : undefined;
    });
    const audit = await (await fetch(`${gateway.adminUrl}/admin/audit/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(audit).toContain('[REDACTED:email]');
    expect(audit).toContain('hmac-sha256:');
    const usage = await (await fetch(`${gateway.adminUrl}/admin/usage/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const siem = JSON.stringify(splunk.received);
    // Stopping sends the spans still waiting; each chat's provider call has one.
    await gateway.stop();
    const spans = JSON.stringify(otlp.spans);
    expect(otlp.spans.filter((span) => span.name === 'chat gpt-4o-mini').length).toBeGreaterThanOrEqual(4);

    const places = [
      { path: 'audit export', text: audit },
      { path: 'usage export', text: usage },
      { path: 'SIEM stream', text: siem },
      { path: 'exported spans', text: spans },
      { path: gateway.logFile, text: readFileSync(gateway.logFile, 'utf8') },
      ...filesUnder(gateway.dataDir),
    ];
    const found = places.flatMap(({ path, text }) =>
      PLANTED.filter((value) => text.includes(value) || text.includes(latin1(value))).map((value) => `${value} in ${path}`),
    );
    expect(found).toEqual([]);
  });
});
