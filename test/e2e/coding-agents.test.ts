import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, THINKING_TOKENS, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { recordsOfKey, runAgent } from '../harness/clients.js';
import { startInProcess } from '../harness/gateway.js';

// Claude Code and the Codex CLI, the real binaries in their non-interactive modes, pointed at the gateway as
// docs/routing.md ("Clients") tells their users, with the fake providers behind it. Each is asked to run one of its
// own tools on a file only the tool can read, so the answer it prints proves the whole loop went through: the
// model's tool call, the agent running it, the result sent back, the model's last answer. Every model call the
// agent made (counted at the fake) leaves exactly one audit row and one usage row.

const SECRET_LINE = 'the launch code is 7-alpha-tango';
const RUN_MS = 120_000;

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-work-'));
  writeFileSync(join(dir, 'notes.txt'), `${SECRET_LINE}\n`);
  return dir;
}

/**
 * Codex's home, its config pointing it at the gateway's Responses API. With `model`, a model catalog that describes
 * the gateway's model as Codex's catalog describes OpenAI's (which tools it is offered, in which shape).
 */
function codexHome(baseURL: string, model?: Record<string, unknown>): string {
  const home = mkdtempSync(join(tmpdir(), 'codex-home-'));
  if (model) writeFileSync(join(home, 'catalog.json'), JSON.stringify({ models: [{ ...CATALOG_ENTRY, ...model }] }));
  writeFileSync(
    join(home, 'config.toml'),
    [
      ...(model ? [`model_catalog_json = "${join(home, 'catalog.json')}"`] : []),
      'model = "openai/gpt-test"',
      'model_provider = "gateway"',
      'model_reasoning_effort = "high"',
      // Codex offers OpenAI's hosted web_search unless told not to, which OpenAI would then serve natively (and the fake
      // answers with a search, not the tool calls this test is about).
      'web_search = "disabled"',
      '[model_providers.gateway]',
      'name = "Gateway"',
      `base_url = "${baseURL}"`,
      'wire_api = "responses"',
      'env_key = "GATEWAY_API_KEY"',
      '',
    ].join('\n'),
  );
  return home;
}

/** The fields Codex's model catalog needs, for the gateway's `openai/gpt-test`. */
const CATALOG_ENTRY = {
  slug: 'openai/gpt-test',
  display_name: 'gpt-test through the gateway',
  description: 'A model served by the gateway.',
  default_reasoning_level: 'high',
  supported_reasoning_levels: [{ effort: 'high', description: 'high' }],
  shell_type: 'shell_command',
  visibility: 'list',
  supported_in_api: true,
  priority: 1,
  context_window: 128000,
  truncation_policy: { mode: 'tokens', limit: 10000 },
  input_modalities: ['text'],
  supports_parallel_tool_calls: false,
  support_verbosity: false,
  experimental_supported_tools: [],
  base_instructions: "You are a coding agent working in the user's workspace.",
};

describe('coding agents through the gateway', () => {
  let anthropicFake: FakeAnthropic;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant-fake' });
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai-fake' });
    gateway = await startInProcess({
      routing: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant-fake' },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai-fake' },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await anthropicFake?.close();
    await openaiFake?.close();
  });

  // ANTHROPIC_API_KEY comes as x-api-key, ANTHROPIC_AUTH_TOKEN as a bearer token: the gateway takes its key in either.
  it.each(['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'])(
    'runs `claude -p` with its Read tool, the key in %s, each of its model calls audited and metered once with its cache and thinking tokens',
    async (keyVariable) => {
      const { id, key } = await gateway.createKey({ name: 'claude-code' });
      const work = workspace();
      const before = anthropicFake.requests.length;
      const { stdout } = await runAgent('claude', ['-p', `Read with {"file_path":"${join(work, 'notes.txt')}"}`, '--model', 'anthropic/cached-thinking'], {
        cwd: work,
        timeoutMs: RUN_MS,
        env: {
          HOME: mkdtempSync(join(tmpdir(), 'claude-home-')),
          ANTHROPIC_BASE_URL: gateway.baseURL.replace(/\/v1$/, ''),
          [keyVariable]: key,
          ANTHROPIC_DEFAULT_HAIKU_MODEL: 'anthropic/cached-thinking',
          // No internet here: nothing but the model calls may leave the machine.
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          DISABLE_AUTOUPDATER: '1',
          DISABLE_TELEMETRY: '1',
          DISABLE_ERROR_REPORTING: '1',
        },
      });
      expect(stdout).toContain(SECRET_LINE);

      const calls = anthropicFake.requests.slice(before).filter((r) => r.path === '/v1/messages');
      const toolTurn = calls.find((c) => JSON.stringify(c.body.messages).includes('"tool_result"'));
      expect(toolTurn, 'a call carried the Read result back to the model').toBeDefined();
      expect((calls[0]!.body.tools as { name: string }[]).map((t) => t.name)).toContain('Read');
      for (const call of calls) {
        expect(call.body.stream).toBe(true);
        // Claude Code marks its system prompt for prompt caching; the mark reaches the provider.
        expect(JSON.stringify(call.body.system)).toContain('"cache_control":{"type":"ephemeral"}');
      }
      // Its thinking setting and the beta flags the gateway allows reach the provider (docs/routing.md#thinking); the
      // signed thinking block the provider answered came back to it and returned, unchanged, before the Read result
      // (the fake, as Anthropic's API, refuses that turn otherwise).
      const main = calls.filter((c) => (c.body.tools as unknown[] | undefined)?.length);
      for (const call of main) expect(['enabled', 'adaptive']).toContain((call.body.thinking as { type: string }).type);
      expect(toolTurn!.body).toMatchObject({ context_management: { edits: expect.any(Array) }, output_config: { effort: expect.any(String) } });
      expect(toolTurn!.beta?.split(',')).toContain('interleaved-thinking-2025-05-14');
      expect(toolTurn!.beta).not.toContain('claude-code-');
      const returned = (toolTurn!.body.messages as { role: string; content: { type: string }[] }[]).filter((m) => m.role === 'assistant').at(-1)!;
      expect(returned.content[0]).toMatchObject({ type: 'thinking', signature: expect.any(String) });

      const { audit, usage } = await recordsOfKey(gateway.adminUrl, id, calls.length);
      expect(audit.map((row) => row.event_type)).toEqual(calls.map(() => 'request.completed'));
      expect(usage).toHaveLength(calls.length);
      for (const row of usage) {
        expect(row).toMatchObject({ endpoint: 'messages', stream: true, cached_tokens: 100, cache_write_tokens: 20, reasoning_tokens: THINKING_TOKENS });
      }
    },
  );

  it('runs `codex exec` with its exec_command tool over the Responses API, each of its model calls audited and metered once', async () => {
    const { id, key } = await gateway.createKey({ name: 'codex' });
    const work = workspace();
    const home = codexHome(gateway.baseURL);
    const before = openaiFake.requests.length;
    // The sandbox needs kernel features a container may lack; the workspace is a throwaway directory.
    const { stdout } = await runAgent(
      'codex',
      ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', 'exec_command with {"cmd":"cat notes.txt"}'],
      {
        cwd: work,
        timeoutMs: RUN_MS,
        env: { HOME: home, CODEX_HOME: home, GATEWAY_API_KEY: key },
      },
    );
    // The model's last answer quotes what the tool said.
    expect(stdout).toMatch(new RegExp(`tools said: [^]*${SECRET_LINE}`));

    const calls = openaiFake.requests.slice(before);
    expect(calls.map((c) => c.path)).toEqual(calls.map(() => '/v1/chat/completions'));
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(calls.at(-1)!.body.messages)).toContain(SECRET_LINE);
    expect(calls.map((c) => c.body.reasoning_effort)).toEqual(calls.map(() => 'high'));
    // Codex offers its sub-agent tools as a namespace, flattened to functions the provider can call.
    const offered = (calls[0]!.body.tools as { function: { name: string } }[]).map((t) => t.function.name);
    expect(offered).toEqual(expect.arrayContaining(['exec_command', 'multi_agent_v1__spawn_agent']));

    const { audit, usage } = await recordsOfKey(gateway.adminUrl, id, calls.length);
    expect(audit.map((row) => row.event_type)).toEqual(calls.map(() => 'request.completed'));
    expect(usage).toHaveLength(calls.length);
    for (const row of usage) expect(row).toMatchObject({ endpoint: 'responses', stream: true });
  });

  // Codex picks the shape of its tools from its model catalog: a catalog naming the gateway's model as one whose
  // apply_patch is freeform makes Codex offer it as a custom tool, which the gateway translates for a chat provider
  // and hands back as a custom_tool_call. (The catalog's `shell_type: local` still gets exec_command in 0.171, so
  // local_shell is tested with the openai SDK only.)
  it('runs `codex exec` with its freeform apply_patch: the custom tool call reaches Codex as the patch it applies', async () => {
    const { id, key } = await gateway.createKey({ name: 'codex-apply-patch' });
    const work = workspace();
    const home = codexHome(gateway.baseURL, { apply_patch_tool_type: 'freeform' });
    const before = openaiFake.requests.length;
    const patch = '*** Begin Patch\\n*** Add File: hello.txt\\n+written through the gateway\\n*** End Patch\\n';
    await runAgent('codex', ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', `apply_patch with {"input":"${patch}"}`], {
      cwd: work,
      timeoutMs: RUN_MS,
      env: { HOME: home, CODEX_HOME: home, GATEWAY_API_KEY: key },
    });
    // Codex applied the patch it was handed: the file exists with the added line.
    expect(readFileSync(join(work, 'hello.txt'), 'utf8')).toBe('written through the gateway\n');

    const calls = openaiFake.requests.slice(before);
    // Offered to the chat provider as a function taking the whole patch as one string.
    const tools = (calls[0]!.body.tools as { function: { name: string; parameters: unknown } }[]).map((t) => t.function);
    expect(tools).toContainEqual(
      expect.objectContaining({
        name: 'apply_patch',
        description: expect.stringContaining('The input must follow this lark grammar'),
        parameters: expect.objectContaining({ properties: { input: expect.objectContaining({ type: 'string' }) }, required: ['input'] }),
      }),
    );
    // What Codex reported back went to the model as the answer to that call.
    const messages = calls.at(-1)!.body.messages as {
      role: string;
      tool_call_id?: string;
      content?: unknown;
      tool_calls?: { id: string; function: { name: string } }[];
    }[];
    const asked = messages.findLast((m) => m.role === 'assistant')!;
    expect(asked.tool_calls?.map((c) => c.function.name)).toEqual(['apply_patch']);
    expect(messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: asked.tool_calls?.[0]?.id, content: expect.stringContaining('A hello.txt') });

    const { audit, usage } = await recordsOfKey(gateway.adminUrl, id, calls.length);
    expect(audit.map((row) => row.event_type)).toEqual(calls.map(() => 'request.completed'));
    expect(usage).toHaveLength(calls.length);
  });
});
