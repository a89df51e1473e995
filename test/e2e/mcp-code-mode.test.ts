import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { encode } from 'gpt-tokenizer';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryTools, startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

const textOf = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

// Code mode on /mcp: the official SDK client sees three meta-tools, reads the
// key's tools as TypeScript, and runs a program whose tool calls the gateway
// governs and records one by one.
describe('MCP code mode', () => {
  let weather: FakeMcpHttpServer;
  let inventory: FakeMcpHttpServer;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let codeKey: { id: string; key: string };
  /** A code mode key with limits of its own, below the gateway's defaults. */
  let limitedKey: { id: string; key: string };
  let directKey: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    weather = await startMcpHttpServer('weather', weatherTools());
    inventory = await startMcpHttpServer('inventory', inventoryTools(30));
    gateway = await startInProcess({
      ingress: { codeMode: { timeMs: 8_000, memoryMb: 64, maxToolCalls: 50, workers: 2 } },
      routing: {
        mcp: {
          servers: {
            calc: { transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', 'test/fakes/mcp-stdio-server.ts'], cwd: REPO },
            weather: { transport: 'http', url: weather.url },
            inventory: { transport: 'http', url: inventory.url },
          },
        },
      },
    });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'agents', name: 'Agents' });
    await eventually('the MCP servers connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data.length === 3 && data.every((s) => s.state === 'ready') ? true : undefined;
    });
    for (const name of ['calc', 'weather', 'inventory']) await admin(gateway.adminUrl, 'POST', `/admin/mcp/servers/${name}/approve`);
    const allowed_tools = ['calc.*', 'weather.get_forecast', 'inventory.*'];
    codeKey = await admin<{ id: string; key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
      name: 'coder',
      team: 'agents',
      allowed_tools,
      tool_mode: 'code',
    });
    limitedKey = await admin<{ id: string; key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
      name: 'limited coder',
      team: 'agents',
      allowed_tools,
      tool_mode: 'code',
      code_limits: { time_ms: 4_000, memory_mb: 16, max_tool_calls: 5, max_result_bytes: 2_048 },
    });
    ({ key: directKey } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'direct', team: 'agents', allowed_tools }));
  });
  afterAll(async () => {
    for (const client of clients) await client.close();
    await gateway?.stop();
    await weather?.close();
    await inventory?.close();
  });

  async function mcpClient(key: string): Promise<Client> {
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway.baseURL.replace(/\/v1$/, '')}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  const run = async (code: string, key = codeKey.key) =>
    (await mcpClient(key)).callTool({ name: 'execute_code', arguments: { code } }) as Promise<CallToolResult>;

  it("offers three meta-tools instead of the key's tools, and the tools as one declaration file per server", async () => {
    const client = await mcpClient(codeKey.key);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['list_tool_files', 'read_tool_file', 'execute_code']);
    expect(textOf(await client.callTool({ name: 'list_tool_files', arguments: {} }))).toBe('servers/calc.d.ts\nservers/inventory.d.ts\nservers/weather.d.ts');
    expect(textOf(await client.callTool({ name: 'read_tool_file', arguments: { path: 'servers/calc.d.ts' } }))).toBe(
      [
        '// Tools of the MCP server "calc". Each resolves to the tool\'s structured content when it gives one,',
        '// else to its text; a tool that fails throws an Error with its message.',
        'declare const calc: {',
        '  /** Adds two numbers. */',
        '  add(input: { a: number; b: number; }): Promise<unknown>;',
        '  /** Multiplies two numbers. */',
        '  multiply(input: { a: number; b: number; }): Promise<unknown>;',
        '};',
        '',
      ].join('\n'),
    );
    expect(textOf(await client.callTool({ name: 'read_tool_file', arguments: { path: 'inventory.find_items' } }))).toBe(
      [
        '// inventory.find_items: call as `await inventory.find_items(input)`',
        '/** Finds items in stock. */',
        'find_items(input: {',
        '  /** Warehouse code, e.g. "LYS-1". */',
        '  warehouse: string;',
        '  status?: "in_stock" | "reserved" | "shipped";',
        '  tags?: string[];',
        '  range?: { from: string; to?: string; };',
        '  /** Most items to return. */',
        '  limit?: number | null;',
        '}): Promise<unknown>;',
        '',
      ].join('\n'),
    );
    // A tool the key may not use is not in its files.
    const alerts = await client.callTool({ name: 'read_tool_file', arguments: { path: 'weather.get_alerts' } });
    expect(alerts.isError).toBe(true);
    await expect(client.callTool({ name: 'calc.add', arguments: { a: 1, b: 2 } })).rejects.toThrow(/in code mode, call tools from a program/);
  });

  it('runs a program that calls tools of two servers and returns only its result, in one round trip', async () => {
    const before = weather.calls.length;
    const result = await run(`
      const sum: { sum: number } = await calc.add({ a: 2, b: 3 }) as { sum: number };
      const forecast = await weather.get_forecast({ city: 'Lyon' });
      console.log('sum is', sum.sum);
      return { total: sum.sum, forecast };`);
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toEqual({ total: 5, forecast: 'Sunny, 21 °C in Lyon' });
    expect(result.content[1]).toEqual({ type: 'text', text: 'console:\nsum is 5\n' });
    expect(weather.calls.slice(before)).toEqual([{ name: 'get_forecast', arguments: { city: 'Lyon' } }]);
  });

  it("refuses, inside the program, a tool outside the key's allowlist, without calling it", async () => {
    const result = await run(`
      try { await weather.get_alerts({ region: 'Alps' }); return 'called'; }
      catch (e) { return String(e); }`);
    expect(JSON.parse(textOf(result))).toBe('ToolError: This key may not use the tool `weather.get_alerts`.');
    expect(weather.calls.some((c) => c.name === 'get_alerts')).toBe(false);
  });

  it("stops a program at its key's limits with an error that says which", async () => {
    const loop = await run('while (true) {}', limitedKey.key);
    expect(loop).toMatchObject({ isError: true, content: [{ text: 'The program ran out of time: the limit is 4000 ms, tool calls included.' }] });
    const bomb = await run('const all = []; while (true) all.push(new Array(100_000).fill(all.length));', limitedKey.key);
    expect(bomb).toMatchObject({ isError: true, content: [{ text: 'The program ran out of memory: the limit is 16 MB.' }] });
    const many = await run('for (let i = 0; i < 10; i++) await calc.add({ a: i, b: i });', limitedKey.key);
    expect(many).toMatchObject({ isError: true, content: [{ text: 'ToolError: Tool call limit reached: a program may make at most 5 tool calls.' }] });
    const big = await run("return 'x'.repeat(10_000);", limitedKey.key);
    expect(big).toMatchObject({
      isError: true,
      content: [{ text: "The program's result is 10002 bytes of JSON, over the limit of 2048: return less." }],
    });
    // A key without limits of its own has the gateway's: the same program is within them.
    expect(JSON.parse(textOf(await run("return 'x'.repeat(10_000).length;")))).toBe(10_000);
  });

  it("sets a key's code mode limits through the admin API, within bounds", async () => {
    const path = `/admin/keys/${limitedKey.id}`;
    expect((await admin<{ code_limits: unknown }>(gateway.adminUrl, 'GET', path)).code_limits).toEqual({
      time_ms: 4_000,
      memory_mb: 16,
      max_tool_calls: 5,
      max_result_bytes: 2_048,
    });
    const refused = await admin(gateway.adminUrl, 'PATCH', path, { code_limits: { time_ms: 3_600_000 } }, [400]);
    expect(JSON.stringify(refused)).toMatch(/time_ms.*300000/);
    // null hands one limit back to the gateway's default; the others stay.
    const { code_limits } = await admin<{ code_limits: unknown }>(gateway.adminUrl, 'PATCH', path, { code_limits: { max_result_bytes: null } });
    expect(code_limits).toEqual({ time_ms: 4_000, memory_mb: 16, max_tool_calls: 5, max_result_bytes: null });
    expect(JSON.parse(textOf(await run("return 'x'.repeat(10_000).length;", limitedKey.key)))).toBe(10_000);
  });

  it("runs programs off ingress's event loop: a spinning program holds up no other request", async () => {
    let spinning = true;
    const program = run("await weather.get_forecast({ city: 'Spin' }); while (true) {}").finally(() => {
      spinning = false;
    });
    await eventually('the program is spinning', async () => (weather.calls.some((c) => c.arguments.city === 'Spin') ? true : undefined));
    const models = await fetch(`${gateway.baseURL}/models`, { headers: { authorization: `Bearer ${directKey}` } });
    expect(models.status).toBe(200);
    const direct = await (await mcpClient(directKey)).callTool({ name: 'weather.get_forecast', arguments: { city: 'Paris' } });
    expect(textOf(direct)).toBe('Sunny, 21 °C in Paris');
    expect(spinning).toBe(true);
    expect(await program).toMatchObject({ isError: true, content: [{ text: 'The program ran out of time: the limit is 8000 ms, tool calls included.' }] });
  });

  it('gives a program nothing of the host: no process, require, fetch, modules or timers', async () => {
    const globals = await run('return [typeof process, typeof require, typeof fetch, typeof setTimeout, typeof std, typeof os, typeof __call];');
    expect(JSON.parse(textOf(globals))).toEqual(Array(7).fill('undefined'));
    const fs = await run("const fs = await import('node:fs'); return fs.readFileSync('/etc/passwd', 'utf8');");
    expect(fs).toMatchObject({ isError: true, content: [{ text: "ReferenceError: could not load module 'node:fs'" }] });
    const viaConstructor = await run("return (function () { return this; }).constructor('return typeof process')();");
    expect(JSON.parse(textOf(viaConstructor))).toBe('undefined');
    // The host's prototypes are not the program's.
    await run("Object.prototype.polluted = 'yes'; return 1;");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('audits and meters each tool call of a program like a direct call', async () => {
    type Row = { key: string; tool: string; surface: string; outcome: string; calls: number };
    const rows = await eventually('program tool calls metered', async () => {
      const { data } = await admin<{ data: Row[] }>(gateway.adminUrl, 'GET', '/admin/tool-calls?group_by=key,tool,surface,outcome');
      const mine = data.filter((r) => r.key === codeKey.id);
      return mine.reduce((sum, r) => sum + r.calls, 0) >= 4 ? mine : undefined;
    });
    expect(rows.map((r) => `${r.surface}:${r.tool}:${r.outcome}:${r.calls}`).sort()).toEqual([
      'code:calc.add:ok:1',
      'code:weather.get_alerts:tool_not_allowed:1',
      'code:weather.get_forecast:ok:2',
    ]);
    const { data } = await admin<{ data: { payload: { tool: { surface: string; tool: string } } }[] }>(
      gateway.adminUrl,
      'GET',
      `/admin/audit/events?type=tool.called&key=${codeKey.id}&limit=100`,
    );
    expect(data.filter((r) => r.payload.tool.surface === 'code')).toHaveLength(4);
  });

  it('records each run so an auditor finds its program, its tool calls and how it ended', async () => {
    type Audited<T> = { data: { payload: T }[] };
    type CodeRun = { runId: string; program: string; programSha256: string; outcome: string; errorMessage: string; resultJson: string };
    const audited = await admin<{ id: string; key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
      name: 'audited coder',
      team: 'agents',
      allowed_tools: ['calc.*', 'weather.get_forecast'],
      tool_mode: 'code',
      content_logging: true,
    });
    const program =
      "const { sum } = (await calc.add({ a: 4, b: 5 })) as { sum: number };\nreturn { sum, weather: await weather.get_forecast({ city: 'Nice' }) };";
    const answered = await run(program, audited.key);
    const runId = answered._meta?.['ai-gateway/run_id'] as string;
    expect(runId).toMatch(/^run_[0-9a-f]{16}$/);
    const find = async <T>(query: string, ready: (rows: T[]) => boolean) =>
      eventually(`audit rows for ${query}`, async () => {
        const rows = (await admin<Audited<T>>(gateway.adminUrl, 'GET', `/admin/audit/events?${query}&limit=1000`)).data.map((r) => r.payload);
        return ready(rows) ? rows : undefined;
      });
    const [record] = await find<{ codeRun: CodeRun & { calls: unknown[] } }>(`type=code.executed&key=${audited.id}`, (rows) => rows.length === 1);
    expect(record!.codeRun).toMatchObject({
      runId,
      program,
      outcome: 'ok',
      resultJson: '{"sum":9,"weather":"Sunny, 21 °C in Nice"}',
      calls: [
        { tool: 'calc.add', outcome: 'ok', durationMs: expect.any(Number) },
        { tool: 'weather.get_forecast', outcome: 'ok', durationMs: expect.any(Number) },
      ],
    });
    // Every call the program made is a tool.called event that names the run.
    const calls = await find<{ tool: { runId: string; tool: string; argumentsJson: string } }>(
      `type=tool.called&key=${audited.id}`,
      (rows) => rows.length === 2,
    );
    expect(calls.map((c) => [c.tool.runId, c.tool.tool, c.tool.argumentsJson])).toEqual([
      [runId, 'calc.add', '{"a":4,"b":5}'],
      [runId, 'weather.get_forecast', '{"city":"Nice"}'],
    ]);

    // Without content logging the record keeps what happened, not the program or its data; a limit is named.
    const stopped = await run('await calc.add({ a: 1, b: 1 }); while (true) {}', limitedKey.key);
    const stoppedId = stopped._meta?.['ai-gateway/run_id'] as string;
    const runs = await find<{ codeRun: CodeRun }>(`type=code.executed&key=${limitedKey.id}`, (rows) => rows.some((r) => r.codeRun.runId === stoppedId));
    const stoppedRun = runs.find((r) => r.codeRun.runId === stoppedId)!.codeRun;
    // Empty fields are left out of the stored JSON.
    expect([stoppedRun.program ?? '', stoppedRun.resultJson ?? '']).toEqual(['', '']);
    expect(stoppedRun).toMatchObject({
      programSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      outcome: 'time_limit',
      errorMessage: 'The program ran out of time: the limit is 4000 ms, tool calls included.',
      calls: [{ tool: 'calc.add', outcome: 'ok' }],
    });
    expect(runs.map((r) => r.codeRun.outcome)).toEqual(expect.arrayContaining(['memory_limit', 'tool_call_limit', 'result_limit']));
  });

  it('shows the model far fewer tokens of tool definitions than offering every tool', async () => {
    const tokens = (value: unknown) => encode(JSON.stringify(value)).length;
    const direct = tokens((await (await mcpClient(directKey)).listTools()).tools);
    const client = await mcpClient(codeKey.key);
    // What a model reads before its program: the meta-tools, the file list and the one file it needs.
    const code =
      tokens((await client.listTools()).tools) +
      tokens(await client.callTool({ name: 'list_tool_files', arguments: {} })) +
      tokens(await client.callTool({ name: 'read_tool_file', arguments: { path: 'servers/calc.d.ts' } }));
    expect(code).toBeLessThan(direct / 5);
  });
});
