import { createHmac } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-storage-tests';
const HASH_KEY = 'storage-hash-key-for-tests-0123456789';
// A planted address, never a real one.
const EMAIL = 'bob.planted@example.com';

interface AuditRow {
  event_type: string;
  request_id: string;
  payload: {
    storagePolicies?: string[];
    tool?: { argumentsJson: string; argumentsSha256: string; resultJson: string; errorMessage?: string };
    request?: { tags?: string[]; errorMessage?: string; attempts?: { errorMessage?: string }[] };
  };
}

// What the gateway keeps of a caller's content under guardrails.storage: the
// audit rows (and so SIEM output) hold the stored form, name the policies that
// decided it, and the cache keeps no entry for a caller whose answers are withheld.
describe('storage policies', () => {
  let fake: FakeOpenAI;
  let weather: FakeMcpHttpServer;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    // A tool that refuses its arguments by quoting them, as servers validating their input do.
    const station = {
      name: 'get_station',
      description: 'A weather station by city.',
      inputSchema: { type: 'object' as const, properties: { city: { type: 'string' } } },
      run: (args: Record<string, unknown>): never => {
        throw new McpError(ErrorCode.InvalidParams, `No station in ${String(args.city)}`);
      },
    };
    weather = await startMcpHttpServer('weather', [...weatherTools(), station]);
    process.env.GW_TEST_STORAGE_HASH_KEY = HASH_KEY;
    gateway = await startInProcess({
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
        mcp: { servers: { weather: { transport: 'http', url: weather.url } } },
      },
      guardrails: {
        storage: {
          hashKey: 'env:GW_TEST_STORAGE_HASH_KEY',
          policies: {
            'personal-data': { toolArguments: 'redact', metadata: 'hash' },
            withheld: { toolArguments: 'drop', completion: 'hash' },
            'prompts-redacted': { prompt: 'redact' },
          },
          attach: { teams: { 'team-redact': ['personal-data'], 'team-withheld': ['personal-data', 'withheld'], 'team-prompts': ['prompts-redacted'] } },
        },
      },
    });
    await eventually('the MCP server connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data[0]?.state === 'ready' ? true : undefined;
    });
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/weather/approve');
    for (const team of ['team-redact', 'team-withheld', 'team-plain', 'team-prompts']) {
      await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: team, name: team });
      keys[team] = (
        await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: team, team, allowed_tools: ['weather.*'], content_logging: true })
      ).key;
    }
  });
  afterAll(async () => {
    await gateway?.stop();
    await weather?.close();
    await fake?.close();
  });

  async function forecast(team: string, tool = 'get_forecast', status = 200): Promise<string> {
    const response = await fetch(`${gateway.baseURL}/mcp/tools/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[team]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'call_1', type: 'function', function: { name: `weather__${tool}`, arguments: JSON.stringify({ city: EMAIL }) } }),
    });
    expect(response.status).toBe(status);
    return response.headers.get('x-request-id')!;
  }
  const auditRow = (type: string, requestId: string) =>
    eventually(`the ${type} row of ${requestId}`, async () => {
      const { data } = await admin<{ data: AuditRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?type=${type}`);
      return data.find((row) => row.request_id === requestId);
    });

  it('keeps tool content as it came for a caller without a storage policy', async () => {
    const row = await auditRow('tool.called', await forecast('team-plain'));
    expect(row.payload.storagePolicies ?? []).toEqual([]);
    expect(JSON.parse(row.payload.tool!.argumentsJson)).toEqual({ city: EMAIL });
  });

  it('redacts what the detectors find in tool arguments and results, and says which policy did', async () => {
    const row = await auditRow('tool.called', await forecast('team-redact'));
    expect(row.payload.storagePolicies).toEqual(['personal-data']);
    const { argumentsJson, resultJson, argumentsSha256 } = row.payload.tool!;
    expect(JSON.parse(argumentsJson)).toEqual({ city: '[REDACTED:email]' });
    expect(resultJson).toContain('Sunny, 21 °C in [REDACTED:email]');
    expect(JSON.stringify(row)).not.toContain(EMAIL);
    expect(argumentsSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('drops tool content, digest included, where any policy of the caller drops it', async () => {
    const row = await auditRow('tool.called', await forecast('team-withheld'));
    expect(row.payload.storagePolicies).toEqual(['personal-data', 'withheld']);
    // Empty fields are left out of the row's JSON.
    expect(row.payload.tool).toMatchObject({ tool: 'weather.get_forecast', outcome: 'ok' });
    for (const field of ['argumentsJson', 'resultJson', 'argumentsSha256']) expect(row.payload.tool).not.toHaveProperty(field);
  });

  it('hashes tags with the configured key, in the audit row and the spend report', async () => {
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: keys['team-redact']! });
    const { response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'tagged' }] }, { headers: { 'x-gateway-tags': 'project:apollo' } })
      .withResponse();
    const hashed = `hmac-sha256:${createHmac('sha256', HASH_KEY).update('project:apollo').digest('hex')}`;
    const row = await auditRow('request.completed', response.headers.get('x-request-id')!);
    expect(row.payload.request?.tags).toEqual([hashed]);
    // An auditor who holds the tag finds it without the key.
    expect(await admin(gateway.adminUrl, 'POST', '/admin/audit/hash', { value: 'project:apollo' })).toEqual({ hash: hashed });
    const spend = await eventually('the usage row', async () => {
      const { data } = await admin<{ data: { tag: string; requests: number }[] }>(gateway.adminUrl, 'GET', '/admin/spend?group_by=tag');
      return data.some((line) => line.tag !== '') ? data : undefined;
    });
    expect(spend.filter((line) => line.tag !== '')).toEqual([expect.objectContaining({ tag: hashed, requests: 1 })]);
  });

  it('keeps no cache entry for a caller whose answers are withheld', async () => {
    const ask = async (team: string) => {
      const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: keys[team]! });
      const { response } = await client.chat.completions
        .create({ model: 'openai/gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: `cache me, ${team}` }] })
        .withResponse();
      return response.headers.get('x-gateway-cache');
    };
    expect(await ask('team-redact')).toBe('miss');
    expect(await eventually('the entry stored', async () => ((await ask('team-redact')) === 'hit' ? 'hit' : undefined))).toBe('hit');
    expect(await ask('team-withheld')).toBe('miss');
    expect(await ask('team-withheld')).toBe('miss');
  });

  it('keeps no Responses API response for a caller whose prompts and answers are withheld', async () => {
    const responses = (team: string) => new OpenAI({ baseURL: gateway.baseURL, apiKey: keys[team]! }).responses;
    const withheld = await responses('team-withheld').create({ model: 'openai/gpt-4o-mini', input: 'remember this' });
    expect((withheld as unknown as { store: boolean }).store).toBe(false);
    await expect(responses('team-withheld').retrieve(withheld.id)).rejects.toMatchObject({ status: 404 });
    const kept = await responses('team-redact').create({ model: 'openai/gpt-4o-mini', input: 'remember this' });
    expect((kept as unknown as { store: boolean }).store).toBe(true);
    expect((await responses('team-redact').retrieve(kept.id)).id).toBe(kept.id);
  });

  it("stores a provider's error message as the caller's prompts are: one that quotes the caller's value is redacted", async () => {
    const refused = async (team: string) => {
      const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: keys[team]!, maxRetries: 0 });
      // The provider refuses a value it does not know by quoting it back, as OpenAI does.
      const error = await client.chat.completions
        .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], reasoning_effort: EMAIL as 'low' })
        .then(
          () => undefined,
          (err: unknown) => err as InstanceType<typeof OpenAI.APIError>,
        );
      expect(error?.status).toBe(400);
      return auditRow('request.failed', error!.headers!.get('x-request-id')!);
    };
    const plain = await refused('team-plain');
    expect(plain.payload.request?.errorMessage).toContain(EMAIL);

    const row = await refused('team-prompts');
    expect(row.payload.storagePolicies).toEqual(['prompts-redacted']);
    expect(row.payload.request?.errorMessage).toContain("Invalid value: '[REDACTED:email]'");
    expect(row.payload.request?.attempts?.[0]?.errorMessage).toContain('[REDACTED:email]');
    expect(JSON.stringify(row)).not.toContain(EMAIL);
  });

  it("stores a tool server's refusal as the caller's tool arguments are: one quoting them is redacted", async () => {
    const plain = await auditRow('tool.called', await forecast('team-plain', 'get_station', 400));
    expect(plain.payload.tool?.errorMessage).toContain(`No station in ${EMAIL}`);
    const row = await auditRow('tool.called', await forecast('team-redact', 'get_station', 400));
    expect(row.payload.tool?.errorMessage).toContain('No station in [REDACTED:email]');
    expect(JSON.stringify(row)).not.toContain(EMAIL);
  });
});
