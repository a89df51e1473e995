import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { CodeLimits } from '../../gen/gateway/v1/governance.js';
import type { CodeRunCall } from '../../gen/gateway/v1/mcp.js';
import { prefixedId } from '../../kit/ids.js';
import type { McpTool } from '../../gen/gateway/v1/mcp.js';
import type { CodeModeConfig } from '../config.js';
import type { PipelineDeps } from '../pipeline.js';
import { resultText, type ToolAccess } from '../tools.js';
import { runRecord } from './run-record.js';
import type { SandboxLimits } from './sandbox.js';
import { toolDocumentation, toolFiles } from './tool-files.js';

/**
 * Code mode on /mcp: instead of every tool's schema, a model sees three tools:
 * the tree of TypeScript declaration files of its key's tools, a reader for
 * one file or one tool, and a sandbox that runs a program calling them. Each
 * call a program makes goes through the key's ToolAccess like a direct call:
 * governance admits it (allowlist, rate limit) and it is recorded as a
 * tool.called event (surface "code").
 */

export const META_TOOLS: Tool[] = [
  {
    name: 'list_tool_files',
    description: 'Lists the TypeScript declaration files of the tools you can call from execute_code, one file per server.',
    inputSchema: { type: 'object', properties: {} },
  },
  {
    name: 'read_tool_file',
    description: 'Reads one declaration file ("servers/<server>.d.ts") or one tool\'s declaration ("<server>.<tool>").',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string', description: 'A path from list_tool_files, or "<server>.<tool>".' } },
      required: ['path'],
    },
  },
  {
    name: 'execute_code',
    description: [
      'Runs a TypeScript or JavaScript program in a sandbox and returns the value it returns, as JSON.',
      'The program is the body of an async function: call tools as `await <server>.<tool>(input)` (see the declaration files),',
      'combine their results, and `return` only what you need. console.log output is returned too.',
      'No network, file system, timers or modules; time, memory and the number of tool calls are limited.',
    ].join(' '),
    inputSchema: { type: 'object', properties: { code: { type: 'string', description: 'The program.' } }, required: ['code'] },
  },
];

/** The `_meta` key of execute_code's result that names the run. */
export const RUN_ID_META = 'ai-gateway/run_id';

const text = (value: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: value }], ...(isError ? { isError } : {}) });

/** Answers a call of one of the meta-tools; undefined for any other name. */
export async function callMetaTool(
  access: ToolAccess,
  deps: Pick<PipelineDeps, 'codeMode' | 'sandboxes'>,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult | undefined> {
  switch (name) {
    case 'list_tool_files':
      return text([...toolFiles(await access.list()).keys()].join('\n'));
    case 'read_tool_file':
      return readToolFile(await access.list(), String(args.path ?? ''));
    case 'execute_code':
      return executeCode(access, deps, typeof args.code === 'string' ? args.code : '');
    default:
      return undefined;
  }
}

function readToolFile(tools: McpTool[], path: string): CallToolResult {
  const files = toolFiles(tools);
  const file = files.get(path.replace(/^\/+/, ''));
  if (file !== undefined) return text(file);
  const tool = tools.find((t) => t.name === path);
  if (tool) return text(toolDocumentation(tool));
  return text(`No file or tool "${path}". Files: ${[...files.keys()].join(', ') || 'none'}.`, true);
}

async function executeCode(
  access: ToolAccess,
  { codeMode: config, sandboxes }: Pick<PipelineDeps, 'codeMode' | 'sandboxes'>,
  code: string,
): Promise<CallToolResult> {
  const servers = new Map<string, string[]>();
  for (const tool of await access.list()) servers.set(tool.server, [...(servers.get(tool.server) ?? []), tool.name.slice(tool.server.length + 1)]);
  const limits = limitsFor(config, access.codeLimits);
  const run = { id: prefixedId('run'), calls: [] as CodeRunCall[] };
  const started = performance.now();
  const outcome = await sandboxes.run(
    code,
    servers,
    async (tool, argumentsJson) => {
      const result = await access.call(tool, argumentsJson, 'code', run);
      if (result.isError) throw new Error(resultText(result));
      // A tool's structured content is the value a program wants; without one, its text.
      return result.structuredJson ? (JSON.parse(result.structuredJson) as unknown) : resultText(result);
    },
    limits,
  );
  access.recordRun(runRecord(run, code, outcome, performance.now() - started, access.content));
  const logs = outcome.logs ? [{ type: 'text' as const, text: `console:\n${outcome.logs}` }] : [];
  // The run id lets a client find the run's record (code.executed) and its tool calls in the audit log.
  const _meta = { [RUN_ID_META]: run.id };
  if (!outcome.ok) return { content: [{ type: 'text', text: outcome.error }, ...logs], isError: true, _meta };
  return { content: [{ type: 'text', text: outcome.resultJson }, ...logs], _meta };
}

/** The key's own limits where it has them (governance bounds them), else the configured defaults. */
export function limitsFor(config: CodeModeConfig, key: CodeLimits | undefined): SandboxLimits {
  return {
    timeMs: key?.timeMs || config.timeMs,
    memoryBytes: (key?.memoryMb || config.memoryMb) * 1024 * 1024,
    maxToolCalls: key?.maxToolCalls || config.maxToolCalls,
    maxResultBytes: key?.maxResultBytes || config.maxResultBytes,
    maxLogBytes: config.maxLogBytes,
  };
}
