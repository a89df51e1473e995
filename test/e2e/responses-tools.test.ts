import OpenAI from 'openai';
import type { ResponseCreateParamsNonStreaming, ResponseInputItem, ResponseOutputItem } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';

/*
 * The request the Codex CLI (`codex exec`) sends, in the shape of its source
 * (codex-rs: the Responses API tools it builds): function tools, the
 * apply_patch freeform tool with a Lark grammar, local_shell, an MCP server's
 * tools as a namespace (tools[4], where the gateway used to refuse it),
 * reasoning options, store false, encrypted reasoning asked back.
 */
const APPLY_PATCH_GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?';
const codexTools = [
  {
    type: 'function',
    name: 'exec_command',
    description: 'Runs a command in a PTY.',
    strict: false,
    parameters: { type: 'object', properties: { cmd: { type: 'string' }, workdir: { type: 'string' } }, required: ['cmd'], additionalProperties: false },
  },
  {
    type: 'function',
    name: 'update_plan',
    description: 'Updates the task plan.',
    strict: false,
    parameters: { type: 'object', properties: { plan: { type: 'array', items: { type: 'object' } } }, required: ['plan'], additionalProperties: false },
  },
  {
    type: 'custom',
    name: 'apply_patch',
    description: 'Edit files with a patch.',
    format: { type: 'grammar', syntax: 'lark', definition: APPLY_PATCH_GRAMMAR },
  },
  { type: 'local_shell' },
  {
    type: 'namespace',
    name: 'mcp__github__',
    description: 'Tools of the github MCP server.',
    tools: [
      {
        type: 'function',
        name: 'create_issue',
        description: 'Opens an issue.',
        strict: false,
        parameters: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] },
      },
    ],
  },
] as const;

const TASK =
  'Do mcp__github__create_issue with {"title":"bug"} then apply_patch with {"input":"*** Begin Patch"} then local_shell with {"command":["ls","-la"]}';

function codexRequest(input: ResponseInputItem[]): Omit<ResponseCreateParamsNonStreaming, 'stream'> {
  return {
    model: 'openai/gpt-4o-mini',
    instructions: 'You are Codex, a coding agent.',
    input: [
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions instructions>workspace-write</permissions instructions>' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: TASK }] },
      ...input,
    ],
    tools: codexTools as unknown as ResponseCreateParamsNonStreaming['tools'],
    tool_choice: 'auto',
    parallel_tool_calls: false,
    reasoning: { effort: 'medium', summary: 'auto' },
    store: false,
    include: ['reasoning.encrypted_content'],
    prompt_cache_key: 'c0dex-session',
    text: { verbosity: 'medium' },
  };
}

/** What Codex sends back after running a call: the call itself, then its output. */
function answered(item: ResponseOutputItem, output: string): ResponseInputItem[] {
  switch (item.type) {
    case 'function_call':
      return [item, { type: 'function_call_output', call_id: item.call_id, output }];
    case 'custom_tool_call':
      return [item, { type: 'custom_tool_call_output', call_id: item.call_id, output }];
    case 'local_shell_call':
      return [item, { type: 'local_shell_call_output', id: item.call_id, output }];
    default:
      throw new Error(`no call in ${item.type}`);
  }
}

describe('the Responses API with the tools the Codex CLI sends', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    gateway = await startInProcess({
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-provider' } } },
    });
    openai = gateway.client((await gateway.createKey({ name: 'codex' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  /** One Codex turn, whole or streamed: the call the model made, as the item type of the tool offered. */
  async function turn(input: ResponseInputItem[], streamed: boolean): Promise<ResponseOutputItem[]> {
    const body = codexRequest(input);
    const response = streamed ? await openai.responses.stream(body).finalResponse() : await openai.responses.create(body);
    expect(response.status).toBe('completed');
    // Codex's reasoning effort reaches the provider as chat's reasoning_effort, and the Response echoes it.
    expect(fake.requests.at(-1)!.body.reasoning_effort).toBe('medium');
    expect(response.reasoning).toEqual({ effort: 'medium', summary: null });
    return response.output;
  }

  for (const streamed of [false, true]) {
    it(`runs a Codex loop through namespace, custom and local_shell calls (${streamed ? 'streamed' : 'whole'})`, async () => {
      // The reasoning item Codex keeps from an earlier turn: accepted, and not sent to a provider that cannot read it.
      const reasoning: ResponseInputItem = {
        type: 'reasoning',
        id: 'rs_1',
        summary: [{ type: 'summary_text', text: 'Plan.' }],
        encrypted_content: 'gAAAA-opaque',
      };
      const first = await turn([reasoning], streamed);
      const sent = fake.requests.at(-1)?.body as { tools: { function: { name: string; description?: string; parameters: unknown } }[]; messages: unknown[] };
      expect(sent.tools.map((t) => t.function.name)).toEqual(['exec_command', 'update_plan', 'apply_patch', 'local_shell', 'mcp__github__create_issue']);
      expect(sent.tools[2]?.function.description).toContain(APPLY_PATCH_GRAMMAR);
      expect(JSON.stringify(sent.messages)).not.toContain('gAAAA-opaque');

      expect(first).toEqual([
        expect.objectContaining({ type: 'function_call', name: 'create_issue', namespace: 'mcp__github__', arguments: '{"title":"bug"}' }),
      ]);

      const history = [reasoning, ...answered(first[0]!, 'issue #7 opened')];
      const second = await turn(history, streamed);
      expect(second).toEqual([expect.objectContaining({ type: 'custom_tool_call', name: 'apply_patch', input: '*** Begin Patch' })]);

      history.push(...answered(second[0]!, 'patch applied'));
      const third = await turn(history, streamed);
      expect(third).toEqual([expect.objectContaining({ type: 'local_shell_call', action: expect.objectContaining({ type: 'exec', command: ['ls', '-la'] }) })]);

      history.push(...answered(third[0]!, 'README.md'));
      const last = await turn(history, streamed);
      expect(last).toEqual([expect.objectContaining({ type: 'message' })]);
      const text = last[0]?.type === 'message' && last[0].content[0]?.type === 'output_text' ? last[0].content[0].text : '';
      expect(text).toBe(`Fake OpenAI reply to: ${TASK} (tools said: issue #7 opened; patch applied; README.md)`);

      // The provider saw every call under the function name it was offered, each answered by its output.
      const { messages } = fake.requests.at(-1)!.body as {
        messages: { role: string; tool_calls?: { id: string; function: { name: string; arguments: string } }[] }[];
      };
      const calls = messages.flatMap((m) => m.tool_calls ?? []).map((c) => [c.function.name, c.function.arguments]);
      expect(calls).toEqual([
        ['mcp__github__create_issue', '{"title":"bug"}'],
        ['apply_patch', '{"input":"*** Begin Patch"}'],
        ['local_shell', '{"command":["ls","-la"]}'],
      ]);
    });
  }

  it('streams a custom tool call with its own events', async () => {
    const types: string[] = [];
    const stream = openai.responses.stream(codexRequest([]));
    stream.on('event', (event) => types.push(event.type));
    await stream.finalResponse();
    expect(types.filter((t) => t.startsWith('response.function_call_arguments'))).toEqual(
      expect.arrayContaining(['response.function_call_arguments.delta', 'response.function_call_arguments.done']),
    );
    const custom = await openai.responses
      .stream({ ...codexRequest([]), input: [{ role: 'user', content: 'apply_patch with {"input":"*** Begin Patch"}' }] })
      .on('event', (event) => types.push(event.type))
      .finalResponse();
    expect(custom.output[0]).toMatchObject({ type: 'custom_tool_call', input: '*** Begin Patch' });
    expect(types).toContain('response.custom_tool_call_input.done');
  });

  // web_search, which OpenAI serves natively, is refused where a deployment is not OpenAI (responses-web-search.test.ts).
  it("refuses a hosted tool by its type, in OpenAI's error shape", async () => {
    for (const tool of [
      { type: 'code_interpreter', container: { type: 'auto' } },
      { type: 'file_search', vector_store_ids: ['vs_1'] },
    ]) {
      const error = await openai.responses
        .create({ model: 'openai/gpt-4o-mini', input: 'hi', tools: [{ type: 'function', name: 'f', parameters: null, strict: false }, tool] as never })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[1].type');
      expect((error as Error).message).toContain(`the ${tool.type} tool runs on OpenAI's servers`);
    }
  });
});

describe('with hosted tools omitted by the operator', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    gateway = await startInProcess({
      // A provider that runs no web search (OpenAI's own would be sent web_search natively).
      routing: { providers: { vllm: { type: 'vllm', baseUrl: `${fake.url}/v1`, apiKey: 'sk-provider' } }, responses: { hostedTools: 'omit' } },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  it('answers Codex with web search on by leaving web_search out of what the model is offered', async () => {
    const openai = gateway.client((await gateway.createKey({ name: 'codex-search' })).key);
    const tools = [...codexTools, { type: 'web_search', external_web_access: false }] as unknown as ResponseCreateParamsNonStreaming['tools'];
    const response = await openai.responses.create({ ...codexRequest([]), model: 'vllm/gpt-4o-mini', tools });
    expect(response.output[0]).toMatchObject({ type: 'function_call', namespace: 'mcp__github__', name: 'create_issue' });
    const offered = (fake.requests.at(-1)!.body as { tools: { function: { name: string } }[] }).tools.map((t) => t.function.name);
    expect(offered).toEqual(['exec_command', 'update_plan', 'apply_patch', 'local_shell', 'mcp__github__create_issue']);
  });
});
