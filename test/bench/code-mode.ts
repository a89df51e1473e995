/**
 * What code mode saves on one multi-tool task: tokens sent to the model and
 * wall time, in plain tool mode (the client runs each tool call), agent mode
 * (the gateway does) and code mode (the model writes one program). A fake
 * model answers from a script (the user's message names the calls it makes),
 * in front of fake MCP servers with 123 tools. Tokens are o200k tokens of
 * each model request's messages and tools. Run:
 *   npx tsx test/bench/code-mode.ts
 */
import { encode } from 'gpt-tokenizer';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { gatewayConfig } from '../../services/gateway/config.js';
import { startGateway } from '../../services/gateway/runtime.js';
import { loadConfig } from '../../services/kit/config.js';
import { createLogger } from '../../services/kit/log.js';
import { calcTools, inventoryTools, startMcpHttpServer } from '../fakes/mcp-servers.js';
import { startFakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin } from '../harness/gateway.js';

const RUNS = 5;
const WAREHOUSES = ['LYS-1', 'PAR-2', 'NCE-3'];
const plainTask = WAREHOUSES.map((w, i) => `inventory__report_${i + 1} with {"warehouse":"${w}"}`).join(' then ');
// Braces cannot appear in the scripted arguments, so the program builds its inputs without object literals.
const program = `const out = []; for (const [i, w] of ${JSON.stringify(WAREHOUSES.map((w, i) => [i + 1, w]))}) out.push(await inventory['report_' + i](Object.fromEntries([['warehouse', w]]))); return out;`;
const codeTask = `read_tool_file with ${JSON.stringify({ path: 'inventory.report_1' })} then execute_code with ${JSON.stringify({ code: program })}`;

const model = await startFakeOpenAI({ apiKey: 'sk-provider' });
const inventory = await startMcpHttpServer('inventory', inventoryTools(120));
const calc = await startMcpHttpServer('calc', calcTools());
// The whole gateway in this process, on PGlite, as `gateway start` runs it without a database URL.
const config = loadConfig(gatewayConfig, {
  overrides: {
    dataDir: mkdtempSync(join(tmpdir(), 'gw-bench-')),
    log: { level: 'warn' },
    server: { host: '127.0.0.1', opsPort: 0, grpcPort: 0 },
    ingress: { port: 0 },
    governance: { adminPort: 0, adminToken: ADMIN_TOKEN },
    routing: {
      providers: { openai: { type: 'openai', baseUrl: `${model.url}/v1`, apiKey: 'sk-provider' } },
      mcp: { servers: { inventory: { transport: 'http', url: inventory.url, autoExecute: ['*'] }, calc: { transport: 'http', url: calc.url } } },
    },
  },
  env: {},
});
const running = await startGateway(config, ['governance', 'caching', 'routing', 'audit', 'metering', 'ingress'], createLogger({ level: 'warn' }));
const gateway = {
  adminUrl: running.endpoints['governance.admin']!,
  client: (apiKey: string) => new OpenAI({ baseURL: `${running.endpoints['ingress.http']}/v1`, apiKey }),
  stop: running.stop,
};
await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'bench', name: 'Bench' });
for (;;) {
  const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
  if (data.length === 2 && data.every((s) => s.state === 'ready')) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
for (const name of ['inventory', 'calc']) await admin(gateway.adminUrl, 'POST', `/admin/mcp/servers/${name}/approve`);
const client = async (tool_mode: string) =>
  gateway.client(
    (await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: tool_mode, team: 'bench', allowed_tools: ['*'], tool_mode })).key,
  );

type Message = OpenAI.ChatCompletionMessageParam;
const ask = (c: OpenAI, messages: Message[]) => c.chat.completions.create({ model: 'openai/gpt-4o-mini', messages });

/** Plain tool mode: the client runs each call through /v1/mcp/tools/execute and asks again. */
async function plain(c: OpenAI): Promise<string> {
  const messages: Message[] = [{ role: 'user', content: plainTask }];
  for (;;) {
    const message = (await ask(c, messages)).choices[0]!.message;
    if (!message.tool_calls?.length) return message.content ?? '';
    messages.push(message);
    for (const call of message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]) {
      const executed = (await c.post('/mcp/tools/execute', { body: call })) as { message: Message };
      messages.push(executed.message);
    }
  }
}

const modes: [string, OpenAI, (c: OpenAI) => Promise<string>][] = [
  ['plain tools', await client('inject'), plain],
  ['agent mode', await client('agent'), async (c) => (await ask(c, [{ role: 'user', content: plainTask }])).choices[0]!.message.content ?? ''],
  ['code mode', await client('code'), async (c) => (await ask(c, [{ role: 'user', content: codeTask }])).choices[0]!.message.content ?? ''],
];

console.log(`one task, three inventory reports; 123 tools on 2 servers; median of ${RUNS} runs (Node ${process.version})`);
console.log('mode          model calls  tokens to the model  wall time');
for (const [name, c, task] of modes) {
  await task(c);
  const times: number[] = [];
  let calls = 0;
  let tokens = 0;
  for (let run = 0; run < RUNS; run++) {
    const before = model.requests.length;
    const started = performance.now();
    await task(c);
    times.push(performance.now() - started);
    const requests = model.requests.slice(before);
    calls = requests.length;
    tokens = requests.reduce((sum, r) => sum + encode(JSON.stringify({ messages: r.body.messages, tools: r.body.tools })).length, 0);
  }
  const median = times.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
  console.log(`${name.padEnd(14)}${String(calls).padStart(11)}${String(tokens).padStart(21)}${`${median.toFixed(0)} ms`.padStart(11)}`);
}
await gateway.stop();
await Promise.all([inventory.close(), calc.close(), model.close()]);
