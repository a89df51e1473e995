import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TWO_STEPS = 'Compute: calc__add with {"a":2,"b":3} then calc__multiply with {"a":5,"b":7}';

interface AgentStep {
  step: number;
  tool: string;
  status: string;
}
type AgentCompletion = OpenAI.ChatCompletion & { x_gateway_agent?: { steps: AgentStep[]; stopped?: string } };
type AgentChunk = OpenAI.ChatCompletionChunk & { x_gateway_agent?: AgentStep };

/** The fake model's usage rule: prompt tokens are the length of the messages' JSON. */
const promptTokens = (requests: FakeOpenAI['requests']) => requests.reduce((sum, r) => sum + JSON.stringify(r.body.messages).length, 0);

// The gateway offering MCP tools on chat completions: calc (stdio; add and
// multiply marked auto-executable) and weather (Streamable HTTP; not), in
// front of a fake OpenAI model that calls the tools its user names.
describe('MCP tools on chat completions', () => {
  let model: FakeOpenAI;
  let weather: FakeMcpHttpServer;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let agent: OpenAI;
  let agentKeyId: string;
  let plainKey: string;
  let limitedKey: string;
  let coder: OpenAI;

  beforeAll(async () => {
    model = await startFakeOpenAI({ apiKey: 'sk-provider' });
    weather = await startMcpHttpServer('weather', weatherTools());
    gateway = await startInProcess({
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${model.url}/v1`, apiKey: 'sk-provider' } },
        mcp: {
          servers: {
            calc: { transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', 'test/fakes/mcp-stdio-server.ts'], cwd: REPO, autoExecute: ['*'] },
            weather: { transport: 'http', url: weather.url },
          },
        },
      },
    });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'agents', name: 'Agents' });
    await eventually('both MCP servers connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data.length === 2 && data.every((s) => s.state === 'ready') ? true : undefined;
    });
    for (const name of ['calc', 'weather']) await admin(gateway.adminUrl, 'POST', `/admin/mcp/servers/${name}/approve`);
    const createKey = (body: Record<string, unknown>) =>
      admin<{ id: string; key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { team: 'agents', ...body });
    const agentKey = await createKey({ name: 'agent', allowed_tools: ['calc.*', 'weather.get_forecast'], tool_mode: 'agent' });
    agentKeyId = agentKey.id;
    agent = gateway.client(agentKey.key);
    ({ key: plainKey } = await createKey({ name: 'plain', allowed_tools: ['weather.*'] }));
    coder = gateway.client((await createKey({ name: 'coder', allowed_tools: ['calc.*'], tool_mode: 'code' })).key);
    ({ key: limitedKey } = await createKey({ name: 'limited', allowed_tools: ['calc.*'], tool_call_limit: 2, rate_window_seconds: 3600 }));
  });
  afterAll(async () => {
    await gateway?.stop();
    await weather?.close();
    await model?.close();
  });

  it("runs a two-step tool loop itself in agent mode, and answers with the model's last word and the usage of every model call", async () => {
    const before = model.requests.length;
    const completion = (await agent.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: TWO_STEPS }],
    })) as AgentCompletion;

    expect(completion.choices[0]!.message.content).toBe(`Fake OpenAI reply to: ${TWO_STEPS} (tools said: 5; 35)`);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.x_gateway_agent!.steps.map((s) => `${s.step}:${s.tool}:${s.status}`)).toEqual(['1:calc.add:ok', '2:calc.multiply:ok']);
    const calls = model.requests.slice(before);
    expect(calls).toHaveLength(3);
    // The model saw the key's tools, and then each tool's result as a tool message.
    expect((calls[0]!.body.tools as { function: { name: string } }[]).map((t) => t.function.name).sort()).toEqual([
      'calc__add',
      'calc__multiply',
      'weather__get_forecast',
    ]);
    expect((calls[2]!.body.messages as { role: string; content: unknown }[]).filter((m) => m.role === 'tool').map((m) => m.content)).toEqual(['5', '35']);
    expect(completion.usage!.prompt_tokens).toBe(promptTokens(calls));
  });

  it('runs a program in code mode: the model sees the meta-tools, and the gateway runs its execute_code call', async () => {
    const program =
      "const s = await calc.add(Object.fromEntries([['a', 2], ['b', 3]])); return Number(await calc.multiply(Object.fromEntries([['a', s.sum], ['b', 7]])));";
    const question = `Compute with one program: execute_code with ${JSON.stringify({ code: program })}`;
    const before = model.requests.length;
    const completion = (await coder.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: question }],
    })) as AgentCompletion;
    expect(completion.choices[0]!.message.content).toBe(`Fake OpenAI reply to: ${question} (tools said: 35)`);
    expect(completion.x_gateway_agent!.steps.map((s) => `${s.step}:${s.tool}:${s.status}`)).toEqual(['1:execute_code:ok']);
    const calls = model.requests.slice(before);
    // Two model calls, not three: both tool calls ran inside the one program.
    expect(calls).toHaveLength(2);
    expect((calls[0]!.body.tools as { function: { name: string } }[]).map((t) => t.function.name)).toEqual([
      'list_tool_files',
      'read_tool_file',
      'execute_code',
    ]);
  });

  it("streams the loop's progress as it runs, then the answer, to the openai client", async () => {
    const stream = await agent.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: TWO_STEPS }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const progress: string[] = [];
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream as AsyncIterable<AgentChunk>) {
      if (chunk.x_gateway_agent) progress.push(`${chunk.x_gateway_agent.tool}:${chunk.x_gateway_agent.status}`);
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(progress).toEqual(['calc.add:running', 'calc.add:ok', 'calc.multiply:running', 'calc.multiply:ok']);
    expect(text).toBe(`Fake OpenAI reply to: ${TWO_STEPS} (tools said: 5; 35)`);
    expect(promptTokens(model.requests.slice(-3))).toBe(usage?.prompt_tokens);
  });

  it('hands tool calls it may not run on its own to the client, which runs them through /v1/mcp/tools/execute', async () => {
    const question = 'What is the weather? weather__get_forecast with {"city":"Lyon"}';
    const first = (await agent.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: question }] })) as AgentCompletion;
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'weather__get_forecast', arguments: '{"city":"Lyon"}' });
    expect(first.x_gateway_agent).toMatchObject({ steps: [], stopped: 'client_tools' });
    expect(weather.calls).toEqual([]);

    const executed = await fetch(`${gateway.baseURL}/mcp/tools/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(call),
    });
    const { message } = (await executed.json()) as { message: OpenAI.ChatCompletionToolMessageParam };
    const second = await agent.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: question }, first.choices[0]!.message, message],
    });
    expect(second.choices[0]!.message.content).toBe(`Fake OpenAI reply to: ${question} (tools said: Sunny, 21 °C in Lyon)`);
  });

  it('stops after the rounds the request allows and returns the pending tool calls', async () => {
    const completion = (await agent.chat.completions.create(
      { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: TWO_STEPS }] },
      { headers: { 'x-gateway-agent-max-steps': '1' } },
    )) as AgentCompletion;
    expect(completion.x_gateway_agent).toMatchObject({ steps: [{ tool: 'calc.add', status: 'ok' }], stopped: 'max_steps' });
    expect((completion.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.name).toBe('calc__multiply');
  });

  it("offers a key's tools only when asked, and only those its allowlist grants", async () => {
    const client = gateway.client(plainKey);
    const before = model.requests.length;
    await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    expect(model.requests[before]!.body.tools).toBeUndefined();

    const offered = await client.chat.completions.create(
      { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'weather__get_forecast with {"city":"Oslo"}' }] },
      { headers: { 'x-gateway-tools': 'inject' } },
    );
    expect((model.requests.at(-1)!.body.tools as { function: { name: string } }[]).map((t) => t.function.name).sort()).toEqual([
      'weather__get_alerts',
      'weather__get_forecast',
    ]);
    expect(offered.choices[0]!.finish_reason).toBe('tool_calls');

    await expect(
      client.chat.completions.create(
        { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-gateway-tools': 'sometimes' } },
      ),
    ).rejects.toMatchObject({
      status: 400,
      error: { param: 'x-gateway-tools' },
    });
  });

  it('limits tool calls per key and window', async () => {
    const execute = () =>
      fetch(`${gateway.baseURL}/mcp/tools/execute`, {
        method: 'POST',
        headers: { authorization: `Bearer ${limitedKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'calc.add', arguments: { a: 1, b: 1 } }),
      });
    expect((await execute()).status).toBe(200);
    expect((await execute()).status).toBe(200);
    const refused = await execute();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: { code: 'rate_limit_exceeded', message: expect.stringContaining('2 tool calls per 3600s') } });
  });

  it("counts tool calls per key in metering, and audits the agent's calls", async () => {
    type Row = { key: string; tool: string; surface: string; calls: number; failed: number };
    const rows = await eventually('tool calls metered', async () => {
      const { data } = await admin<{ data: Row[] }>(gateway.adminUrl, 'GET', '/admin/tool-calls?group_by=key,tool,surface');
      return data.reduce((sum, r) => sum + r.calls, 0) >= 11 ? data : undefined;
    });
    const of = (tool: string, surface: string) => rows.find((r) => r.key === agentKeyId && r.tool === tool && r.surface === surface);
    // Two full loops and one stopped after its first round.
    expect(of('calc.add', 'agent')).toMatchObject({ calls: 3, failed: 0 });
    expect(of('calc.multiply', 'agent')).toMatchObject({ calls: 2, failed: 0 });
    expect(of('weather.get_forecast', 'execute')).toMatchObject({ calls: 1 });
    const limited = rows.filter((r) => r.key !== agentKeyId && r.tool === 'calc.add' && r.surface !== 'code');
    expect(limited).toEqual([expect.objectContaining({ calls: 3, failed: 1 })]);
    // The code mode program's calls, each its own record.
    expect(rows.filter((r) => r.surface === 'code').map((r) => `${r.tool}:${r.calls}`)).toEqual(['calc.add:1', 'calc.multiply:1']);

    const audited = await admin<{ data: { payload: { tool: { surface: string } } }[] }>(
      gateway.adminUrl,
      'GET',
      '/admin/audit/events?type=tool.called&limit=100',
    );
    expect(audited.data.filter((r) => r.payload.tool.surface === 'agent')).toHaveLength(5);
  });
  // Last: its tool call would count in the metering test above.
  it('reserves each model call of the loop against the budget before making it, capping its output at what is left', async () => {
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'thrifty', name: 'Thrifty' });
    // gpt-4o-mini: $0.15 per million in, $0.60 out. $0.0045 covers the first call with 4,096 output tokens and a
    // second with what is left (about 2,800), and then no third.
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'team', scope_id: 'thrifty', limit_usd: 0.0045, period: 'day' });
    const { key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
      name: 'thrifty-agent',
      team: 'thrifty',
      allowed_tools: ['calc.*'],
      tool_mode: 'agent',
    });
    const before = model.requests.length;
    const refused = await gateway
      .client(key)
      .chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: TWO_STEPS }] })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 402, code: 'budget_exceeded' });
    const caps = model.requests.slice(before).map((r) => r.body.max_tokens as number);
    expect(caps).toHaveLength(2);
    expect(caps[0]).toBe(4_096);
    expect(caps[1]).toBeGreaterThan(0);
    expect(caps[1]).toBeLessThan(4_096);
  });
});
