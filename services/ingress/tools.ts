import { RecordedContent } from './recorded-content.js';
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../gen/gateway/v1/common.js';
import type { AuthorizeToolsResponse, CodeLimits } from '../gen/gateway/v1/governance.js';
import type { CallToolResponse, CodeRun, CodeRunCall, McpTool } from '../gen/gateway/v1/mcp.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { codeExecutedEvent, toolCalledEvent } from '../kit/events.js';
import { matchesAny } from '../kit/glob.js';
import { presentedKey } from '../kit/http.js';
import { hashSecret } from '../kit/secrets/keys.js';
import { traceIdFrom, type PipelineDeps } from './pipeline.js';

/** Where a tool call came in ("code": from a program run in code mode). */
export type ToolSurface = 'mcp' | 'execute' | 'agent' | 'code';

/** OpenAI function names cannot hold dots, so tools offered to models are named <server>__<tool>. */
export const functionName = (tool: string): string => tool.replace('.', '__');

/** The tool a function name stands for ("<server>__<tool>" or "<server>.<tool>"). */
export const toolNameOf = (name: string): string => (name.includes('.') ? name : name.replace('__', '.'));

/**
 * One caller's access to MCP tools: its virtual key is checked with
 * governance, and it sees only approved tools its allowlist grants; each call
 * is admitted by governance (allowlist and tool-call rate limit) before it
 * runs. Every call is recorded as a tool.called event (arguments and result
 * only with the key's content logging on, as its storage policies allow).
 */
export class ToolAccess {
  private constructor(
    private readonly deps: PipelineDeps,
    readonly context: RequestContext,
    private readonly keyHash: Buffer,
    private readonly grant: AuthorizeToolsResponse,
  ) {}

  /** For a request that presents its virtual key only to use tools (/mcp, tool execution). */
  static async open(deps: PipelineDeps, request: FastifyRequest): Promise<ToolAccess> {
    const key = presentedKey(request.headers);
    if (!key) throw new GatewayError('missing_api_key', "You didn't provide an API key. Send your virtual key as Authorization: Bearer <key>.");
    const context: RequestContext = { requestId: request.id, traceId: traceIdFrom(request.headers.traceparent), actor: undefined, sourceAddress: request.ip };
    return ToolAccess.forKey(deps, context, hashSecret(key));
  }

  /** For a key already authenticated (a chat completion that uses tools). */
  static async forKey(deps: PipelineDeps, context: RequestContext, keyHash: Buffer): Promise<ToolAccess> {
    const grant = await deps.clients.governance.authorizeTools({ context, keyHash });
    context.actor ??= grant.actor;
    return new ToolAccess(deps, context, keyHash, grant);
  }

  /** The key's tools are offered on /mcp as TypeScript files and programs that call them (code mode). */
  get codeMode(): boolean {
    return this.grant.toolMode === 'code';
  }

  /** The key's own limits on code mode's programs (a field at 0: the configured default). */
  get codeLimits(): CodeLimits | undefined {
    return this.grant.codeLimits;
  }

  /** What this key's records keep of tool arguments and results (and code mode's programs and results). */
  get content(): RecordedContent {
    return new RecordedContent(this.grant.contentLogging, this.deps.storage.forActor(this.context.actor));
  }

  async list(): Promise<McpTool[]> {
    if (this.grant.allowedTools.length === 0) return [];
    const { tools } = await this.deps.clients.routing.listTools({ includeUnapproved: false });
    return tools.filter((tool) => matchesAny(this.grant.allowedTools, tool.name));
  }

  /** Runs one call; one made by a code mode program names its run, whose record gets the call's duration and outcome. */
  async call(name: string, argumentsJson: string, surface: ToolSurface, run?: { id: string; calls: CodeRunCall[] }): Promise<CallToolResponse> {
    const started = performance.now();
    const dot = name.indexOf('.');
    const content = this.content;
    const base = {
      tool: name,
      server: dot > 0 ? name.slice(0, dot) : '',
      argumentsSha256: content.digest(argumentsJson),
      argumentsJson: content.json(argumentsJson),
      surface,
      runId: run?.id ?? '',
    };
    const record = (call: Parameters<typeof toolCalledEvent>[1]) => {
      run?.calls.push({ tool: name, durationMs: call.durationMs, outcome: call.outcome });
      this.deps.events.emit(toolCalledEvent({ service: 'ingress', context: this.context, storagePolicies: content.policies }, call));
    };
    try {
      await this.deps.clients.governance.authorizeToolCall({ context: this.context, keyHash: this.keyHash, tool: name });
      const result = await this.deps.clients.routing.callTool({ context: this.context, name, argumentsJson });
      record({
        ...base,
        resultBytes: result.resultBytes,
        durationMs: result.durationMs,
        outcome: result.isError ? 'tool_error' : 'ok',
        errorMessage: '',
        resultJson: content.json(result.contentJson),
      });
      return result;
    } catch (err) {
      const error = asGatewayError(err);
      record({
        ...base,
        resultBytes: 0,
        durationMs: performance.now() - started,
        outcome: error.code,
        errorMessage: content.errorMessage(error.message),
        resultJson: '',
      });
      throw error;
    }
  }

  /** A code mode run's record (code.executed), made with this key's content (runRecord). */
  recordRun(run: CodeRun): void {
    this.deps.events.emit(codeExecutedEvent({ service: 'ingress', context: this.context, storagePolicies: this.content.policies }, run));
  }
}

/** The text of a tool result's content blocks, as a tool message to a model carries it. */
export function resultText(result: CallToolResponse): string {
  const content = JSON.parse(result.contentJson) as { type: string; text?: string }[];
  return content.map((block) => (block.type === 'text' ? (block.text ?? '') : JSON.stringify(block))).join('\n');
}
