import { createHmac } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';
import { usageRowsOf } from '../harness/records.js';

const PROVIDER_KEY = 'sk-fake-provider-storage-admin';
const HASH_KEY = 'storage-admin-hash-key-0123456789';
const TEAM_ADMIN = testToken('storage-team-admin');
// A planted address, never a real one.
const EMAIL = 'dora.planted@example.net';
const ARGUMENTS = JSON.stringify({ city: EMAIL });
const hashed = (text: string) => `hmac-sha256:${createHmac('sha256', HASH_KEY).update(text).digest('hex')}`;

interface ToolRow {
  request_id: string;
  payload: { storagePolicies?: string[]; tool?: { argumentsJson?: string; argumentsSha256?: string } };
}

// Storage policies and attachments set through the admin API: checked with
// the config file's before they are stored, applied by ingress (where content
// enters a record) without a restart, adding to what the file attaches.
describe('storage policies through the admin API', () => {
  let fake: FakeOpenAI;
  let weather: FakeMcpHttpServer;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  const keys: Record<string, { id: string; key: string }> = {};

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    weather = await startMcpHttpServer('weather', weatherTools());
    gateway = await startInProcess({
      governance: { adminTokens: [{ name: 'team-admin', token: TEAM_ADMIN, role: 'admin', team: 'team-api' }] },
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
        mcp: { servers: { weather: { transport: 'http', url: weather.url } } },
      },
      guardrails: {
        storage: {
          hashKey: HASH_KEY,
          policies: { 'file-withheld': { toolArguments: 'drop' } },
          attach: { teams: { 'team-file': ['file-withheld'] } },
        },
      },
    });
    await eventually('the MCP server connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data[0]?.state === 'ready' ? true : undefined;
    });
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/weather/approve');
    for (const team of ['team-api', 'team-file']) {
      await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: team, name: team });
      keys[team] = await admin<{ id: string; key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
        name: team,
        team,
        allowed_tools: ['weather.*'],
        content_logging: true,
      });
    }
  });
  afterAll(async () => {
    await gateway?.stop();
    await weather?.close();
    await fake?.close();
  });

  const call = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
    fetch(`${gateway.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const errorOf = async (response: Response) => ((await response.json()) as { error: { message: string } }).error.message;

  /** A tool call's audit row, by the team's key. */
  async function forecast(team: string): Promise<ToolRow> {
    const response = await fetch(`${gateway.baseURL}/mcp/tools/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[team]!.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'call_1', type: 'function', function: { name: 'weather__get_forecast', arguments: ARGUMENTS } }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id')!;
    return eventually(`the tool.called row of ${requestId}`, async () => {
      const { data } = await admin<{ data: ToolRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?type=tool.called&request_id=${requestId}`);
      return data[0];
    });
  }
  /** Waits until the team's tool calls are recorded under these policies (an admin change reaches ingress through its event). */
  const recordedUnder = (team: string, policies: string[]) =>
    eventually(`${team}'s records under ${policies.join(', ') || 'no policy'}`, async () => {
      const row = await forecast(team);
      return JSON.stringify(row.payload.storagePolicies ?? []) === JSON.stringify(policies) ? row : undefined;
    });

  it('applies a policy attached to a team to its records at once: redacted, hashed, dropped, then kept once detached', async () => {
    expect(JSON.parse((await forecast('team-api')).payload.tool!.argumentsJson!)).toEqual({ city: EMAIL });

    const put = await call('PUT', '/admin/guardrails/storage/policies/api-private', { toolArguments: 'redact', metadata: 'hash' });
    expect(put.status, await put.clone().text()).toBe(200);
    expect((await call('PUT', '/admin/guardrails/storage/attachments/team:team-api', ['api-private'])).status).toBe(200);
    const redacted = await recordedUnder('team-api', ['api-private']);
    expect(JSON.parse(redacted.payload.tool!.argumentsJson!)).toEqual({ city: '[REDACTED:email]' });
    expect(JSON.stringify(redacted)).not.toContain(EMAIL);

    // The usage row keeps the request's tags (metadata) as the policy says: hashed with the config file's key.
    const { response } = await new OpenAI({ baseURL: gateway.baseURL, apiKey: keys['team-api']!.key, maxRetries: 0 }).chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'tagged' }] }, { headers: { 'x-gateway-tags': 'client:planted' } })
      .withResponse();
    const requestId = response.headers.get('x-request-id');
    const usage = await usageRowsOf(gateway.adminUrl, keys['team-api']!.id, 1);
    expect(usage.find((row) => row.request_id === requestId)).toMatchObject({ tags: [hashed('client:planted')] });

    // Replaced through the API: the next records follow the policy as it is now.
    expect((await call('PUT', '/admin/guardrails/storage/policies/api-private', { toolArguments: 'hash' })).status).toBe(200);
    const hashedRow = await eventually('arguments hashed', async () => {
      const row = await forecast('team-api');
      return row.payload.tool?.argumentsJson?.startsWith('hmac-sha256:') ? row : undefined;
    });
    expect(hashedRow.payload.tool!.argumentsJson).toBe(hashed(ARGUMENTS));
    expect((await call('PUT', '/admin/guardrails/storage/policies/api-private', { toolArguments: 'drop' })).status).toBe(200);
    const dropped = await eventually('arguments dropped', async () => {
      const row = await forecast('team-api');
      return row.payload.tool?.argumentsJson === undefined ? row : undefined;
    });
    expect(dropped.payload.tool).not.toHaveProperty('argumentsSha256');

    expect((await call('DELETE', '/admin/guardrails/storage/attachments/team:team-api')).status).toBe(204);
    const kept = await recordedUnder('team-api', []);
    expect(JSON.parse(kept.payload.tool!.argumentsJson!)).toEqual({ city: EMAIL });
  });

  it('applies in routing too: a team whose prompts a policy withholds gets no stored Responses API response', async () => {
    const stored = async () => {
      const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: keys['team-api']!.key, maxRetries: 0 });
      const response = await client.responses.create({ model: 'openai/gpt-4o-mini', input: 'remember this' });
      return (response as unknown as { store: boolean }).store;
    };
    expect(await stored()).toBe(true);
    expect((await call('PUT', '/admin/guardrails/storage/policies/no-prompts', { prompt: 'drop' })).status).toBe(200);
    expect((await call('PUT', '/admin/guardrails/storage/attachments/team:team-api', ['no-prompts'])).status).toBe(200);
    await eventually('routing to withhold the team’s responses', async () => ((await stored()) === false ? true : undefined));
    expect((await call('DELETE', '/admin/guardrails/storage/attachments/team:team-api')).status).toBe(204);
    await eventually('routing to store them again', async () => ((await stored()) ? true : undefined));
    expect((await call('DELETE', '/admin/guardrails/storage/policies/no-prompts')).status).toBe(204);
  });

  it("adds to the config file's attachments: a narrower scope cannot keep more than the file's policy allows", async () => {
    expect((await call('PUT', '/admin/guardrails/storage/policies/keep-all', { description: 'keeps everything' })).status).toBe(200);
    expect((await call('PUT', `/admin/guardrails/storage/attachments/key:${keys['team-file']!.id}`, ['keep-all'])).status).toBe(200);
    const row = await recordedUnder('team-file', ['file-withheld', 'keep-all']);
    expect(row.payload.tool).not.toHaveProperty('argumentsJson');
    expect((await call('DELETE', `/admin/guardrails/storage/attachments/key:${keys['team-file']!.id}`)).status).toBe(204);
  });

  it('refuses what cannot apply, naming the key, and never takes or gives the hash key', async () => {
    const treatment = await call('PUT', '/admin/guardrails/storage/policies/typo', { toolArguments: 'shred' });
    expect(treatment.status).toBe(400);
    expect(await errorOf(treatment)).toContain('guardrails.storage.policies.typo.toolArguments');
    const detector = await call('PUT', '/admin/guardrails/storage/policies/typo', { detectors: ['emial'], prompt: 'redact' });
    expect(await errorOf(detector)).toContain('guardrails.storage.policies.typo.detectors.0: no detector or group is named emial');
    const hashKey = await call('PUT', '/admin/guardrails/storage/policies/typo', { hashKey: 'my-own-key', prompt: 'hash' });
    expect(hashKey.status).toBe(400);
    expect(await errorOf(hashKey)).toMatch(/guardrails\.storage\.policies\.typo: .*hashKey/);

    const fileName = await call('PUT', '/admin/guardrails/storage/policies/file-withheld', { toolArguments: 'keep' });
    expect(fileName.status).toBe(400);
    expect(await errorOf(fileName)).toContain('guardrails.storage.policies.file-withheld is defined in the config file; change it there');
    const missing = await call('PUT', '/admin/guardrails/storage/attachments/team:team-api', ['no-such-policy']);
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toContain('guardrails.storage.attach.teams.team-api.0: no policy is named no-such-policy');
    expect((await call('PUT', '/admin/guardrails/storage/attachments/teams:team-api', ['keep-all'])).status).toBe(400);

    expect((await call('PUT', '/admin/guardrails/storage/attachments/global', ['keep-all'])).status).toBe(200);
    const inUse = await call('DELETE', '/admin/guardrails/storage/policies/keep-all');
    expect(inUse.status).toBe(400);
    expect(await errorOf(inUse)).toContain('guardrails.storage.attach.global.0: no policy is named keep-all');
    expect((await call('DELETE', '/admin/guardrails/storage/attachments/global')).status).toBe(204);

    const listed = await (await call('GET', '/admin/guardrails/storage/policies')).text();
    expect(JSON.parse(listed)).toMatchObject({ data: [{ name: 'api-private' }, { name: 'keep-all' }] });
    expect(listed).not.toContain(HASH_KEY);
    expect(listed).not.toContain('hashKey');
  });

  it("refuses a token limited to a team, which could otherwise lift its own team's policy", async () => {
    expect((await call('PUT', '/admin/guardrails/storage/attachments/team:team-api', ['keep-all'], TEAM_ADMIN)).status).toBe(403);
    expect((await call('PUT', '/admin/guardrails/storage/policies/mine', { prompt: 'keep' }, TEAM_ADMIN)).status).toBe(403);
    expect((await call('DELETE', '/admin/guardrails/storage/policies/keep-all', undefined, TEAM_ADMIN)).status).toBe(403);
    expect((await call('GET', '/admin/guardrails/storage/policies', undefined, TEAM_ADMIN)).status).toBe(200);
  });

  it('records every change as an admin event, before and after', async () => {
    expect((await call('DELETE', '/admin/guardrails/storage/policies/keep-all')).status).toBe(204);
    const row = await eventually('the audit row', async () => {
      const page = await admin<{ data: { payload: { admin?: { resourceId: string; beforeJson: string } } }[] }>(
        gateway.adminUrl,
        'GET',
        '/admin/audit/events?type=admin.guardrail_storage_policy.delete',
      );
      return page.data.find((r) => r.payload.admin?.resourceId === 'keep-all');
    });
    expect(row.payload.admin!.beforeJson).toContain('keeps everything');
  });
});
