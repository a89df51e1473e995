/**
 * What code mode saves on one multi-tool task: tokens sent to the model and
 * wall time, in plain tool mode (the client runs each tool call), agent mode
 * (the gateway does) and code mode (the model writes one program). A fake
 * model answers from a script (the user's message names the calls it makes),
 * in front of fake MCP servers with 123 tools. Tokens are o200k tokens of
 * each model request's messages and tools. Each task runs twice: against the
 * fake as it is (instant: the gateway's own time) and behind a front that
 * holds each answer as long as a hosted model would take to read the request
 * and write the answer (LATENCY below). Run:
 *   npx tsx test/bench/code-mode.ts
 */
import { encode } from 'gpt-tokenizer';
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { gatewayConfig } from '../../services/gateway/config.js';
import { startGateway } from '../../services/gateway/runtime.js';
import { loadConfig } from '../../services/kit/config.js';
import { createLogger } from '../../services/kit/log.js';
import { calcTools, inventoryTools, startMcpHttpServer } from '../fakes/mcp-servers.js';
import { listenLocally, readBody, writeJson } from '../fakes/local-server.js';
import { startFakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, admin } from '../harness/gateway.js';

const RUNS = 5;
const WAREHOUSES = ['LYS-1', 'PAR-2', 'NCE-3'];
const plainTask = WAREHOUSES.map((w, i) => `inventory__report_${i + 1} with {"warehouse":"${w}"}`).join(' then ');
// Braces cannot appear in the scripted arguments, so the program builds its inputs without object literals.
const program = `const out = []; for (const [i, w] of ${JSON.stringify(WAREHOUSES.map((w, i) => [i + 1, w]))}) out.push(await inventory['report_' + i](Object.fromEntries([['warehouse', w]]))); return out;`;
const codeTask = `read_tool_file with ${JSON.stringify({ path: 'inventory.report_1' })} then execute_code with ${JSON.stringify({ code: program })}`;

// A hosted model's time for one call: a fixed time to the first token, reading the request, writing the answer
// (round figures of the order published for small hosted models).
const LATENCY = { firstTokenMs: 400, inputTokensPerSecond: 20_000, outputTokensPerSecond: 100 };
const tokensOf = (value: unknown) => encode(JSON.stringify(value)).length;

const fakeModel = await startFakeOpenAI({ apiKey: 'sk-provider' });
/** Forwards to the fake, then holds its answer for the time LATENCY gives the call. */
const hostedFront = createServer((req, res) => {
  void (async () => {
    const body = JSON.parse((await readBody(req)).toString('utf8')) as { messages: unknown; tools?: unknown };
    const answer = await fetch(`${fakeModel.url}${req.url}`, {
      method: 'POST',
      headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await answer.json()) as { choices: { message: unknown }[] };
    const ms =
      LATENCY.firstTokenMs +
      (tokensOf({ messages: body.messages, tools: body.tools }) / LATENCY.inputTokensPerSecond +
        tokensOf(json.choices[0]!.message) / LATENCY.outputTokensPerSecond) *
        1_000;
    await new Promise((resolve) => setTimeout(resolve, ms));
    writeJson(res, answer.status, json);
  })();
});
const hostedModel = await listenLocally(hostedFront);
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
      providers: {
        instant: { type: 'openai', baseUrl: `${fakeModel.url}/v1`, apiKey: 'sk-provider' },
        hosted: { type: 'openai', baseUrl: `${hostedModel.url}/v1`, apiKey: 'sk-provider' },
      },
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
type Task = (c: OpenAI, model: string) => Promise<string>;
const ask = (c: OpenAI, model: string, messages: Message[]) => c.chat.completions.create({ model, messages });

/** Plain tool mode: the client runs each call through /v1/mcp/tools/execute and asks again. */
const plain: Task = async (c, model) => {
  const messages: Message[] = [{ role: 'user', content: plainTask }];
  for (;;) {
    const message = (await ask(c, model, messages)).choices[0]!.message;
    if (!message.tool_calls?.length) return message.content ?? '';
    messages.push(message);
    for (const call of message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]) {
      const executed = (await c.post('/mcp/tools/execute', { body: call })) as { message: Message };
      messages.push(executed.message);
    }
  }
};
const once =
  (content: string): Task =>
  async (c, model) =>
    (await ask(c, model, [{ role: 'user', content }])).choices[0]!.message.content ?? '';

const modes: [string, OpenAI, Task][] = [
  ['plain tools', await client('inject'), plain],
  ['agent mode', await client('agent'), once(plainTask)],
  ['code mode', await client('code'), once(codeTask)],
];

/** The median wall time of RUNS runs, with the model calls and tokens of the last. */
async function measure(c: OpenAI, task: Task, model: string): Promise<{ ms: number; calls: number; tokens: number }> {
  await task(c, model);
  const times: number[] = [];
  let requests: typeof fakeModel.requests = [];
  for (let run = 0; run < RUNS; run++) {
    const before = fakeModel.requests.length;
    const started = performance.now();
    await task(c, model);
    times.push(performance.now() - started);
    requests = fakeModel.requests.slice(before);
  }
  const tokens = requests.reduce((sum, r) => sum + tokensOf({ messages: r.body.messages, tools: r.body.tools }), 0);
  return { ms: times.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!, calls: requests.length, tokens };
}

console.log(`one task, three inventory reports; 123 tools on 2 servers; median of ${RUNS} runs (Node ${process.version})`);
console.log(
  `hosted model: ${LATENCY.firstTokenMs} ms to the first token, reads ${LATENCY.inputTokensPerSecond} tokens/s, writes ${LATENCY.outputTokensPerSecond} tokens/s`,
);
console.log('mode          model calls  tokens to the model  instant model  hosted model');
for (const [name, c, task] of modes) {
  const instant = await measure(c, task, 'instant/gpt-4o-mini');
  const hosted = await measure(c, task, 'hosted/gpt-4o-mini');
  const columns = [String(instant.calls).padStart(11), String(instant.tokens).padStart(21), `${instant.ms.toFixed(0)} ms`.padStart(15)];
  console.log(`${name.padEnd(14)}${columns.join('')}${`${hosted.ms.toFixed(0)} ms`.padStart(14)}`);
}
await gateway.stop();
await Promise.all([inventory.close(), calc.close(), fakeModel.close(), hostedModel.close()]);
