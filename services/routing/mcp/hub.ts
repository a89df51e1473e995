import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CallToolRequest, CallToolResponse, McpServerState, McpTool } from '../../gen/gateway/v1/mcp.js';
import { canonicalJson } from '../../kit/canonical-json.js';
import { GatewayError } from '../../kit/errors.js';
import { matchesAny } from '../../kit/glob.js';
import type { Logger } from '../../kit/log.js';
import { LATENCY_BUCKETS } from '../../kit/metrics.js';
import type { SecretKeeper, SecretLookup } from '../../kit/secrets/store.js';
import type { McpConfig } from './config.js';
import { McpConnection } from './connection.js';
import { mcpClientSdk, type McpClientSdk } from './sdk.js';

/** Approved tools: hashes pinned per server and tool by an admin. */
export type McpPins = Record<string, Record<string, string>>;

/** What an admin approves: everything about a tool a model reads or relies on. */
export function toolHash(tool: Tool): string {
  const { name, title, description, inputSchema, outputSchema, annotations } = tool;
  return createHash('sha256').update(canonicalJson({ name, title, description, inputSchema, outputSchema, annotations })).digest('hex');
}

/**
 * Every configured MCP server's connection, and its tools as "<server>.<tool>".
 * A tool is callable only while its hash equals the one an admin approved:
 * a tool whose description or schema changed (or that appeared since) is held
 * until approved again, against tool poisoning.
 */
export class McpHub {
  private readonly connections = new Map<string, McpConnection>();
  private pins: McpPins = {};
  private readonly calls: Counter<'server' | 'outcome'>;
  private readonly duration: Histogram<'server'>;

  constructor(config: McpConfig, secrets: SecretLookup & SecretKeeper, log: Logger, metrics: Registry) {
    for (const [name, server] of Object.entries(config.servers)) {
      this.connections.set(
        name,
        new McpConnection(name, server, { secrets, log, pingIntervalMs: config.pingIntervalMs, maxReconnectDelayMs: config.maxReconnectDelayMs }),
      );
    }
    const connections = this.connections;
    new Gauge({
      name: 'gateway_mcp_server_up',
      help: 'Whether an MCP server is connected (1) or not (0), by server.',
      labelNames: ['server'],
      registers: [metrics],
      collect() {
        for (const [name, c] of connections) this.set({ server: name }, c.state === 'ready' ? 1 : 0);
      },
    });
    this.calls = new Counter({
      name: 'gateway_mcp_tool_calls_total',
      help: 'Tool calls through the gateway, by server and outcome (ok, tool_error or the error code).',
      labelNames: ['server', 'outcome'],
      registers: [metrics],
    });
    this.duration = new Histogram({
      name: 'gateway_mcp_tool_call_duration_seconds',
      help: 'Time of one tool call, by server.',
      labelNames: ['server'],
      buckets: LATENCY_BUCKETS,
      registers: [metrics],
    });
  }

  start(): void {
    for (const connection of this.connections.values()) connection.start();
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  async startAuthorization(server: string): Promise<string> {
    const connection = this.connections.get(server);
    if (!connection) throw new GatewayError('not_found', `No MCP server named ${server} in routing.mcp.servers.`);
    if (!connection.oauth?.interactive)
      throw new GatewayError(
        'invalid_request',
        `MCP server ${server} does not use the OAuth authorization code flow (routing.mcp.servers.${server}.oauth.grant).`,
      );
    try {
      return await connection.startAuthorization();
    } catch (err) {
      throw new GatewayError('tool_unavailable', `Could not start authorizing MCP server ${server}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Completes an authorization whose state this replica issued; a state it does not know is refused. */
  async completeAuthorization(state: string, code: string): Promise<string> {
    const server = state.slice(0, Math.max(0, state.indexOf('.')));
    const connection = this.connections.get(server);
    if (!connection?.oauth?.takeState(state)) {
      throw new GatewayError('invalid_request', 'This authorization is unknown or was already used; start it again from the admin API.', { param: 'state' });
    }
    try {
      await connection.completeAuthorization(code);
    } catch (err) {
      throw new GatewayError('invalid_request', `MCP server ${server}'s authorization server refused the code: ${(err as Error).message}`, { cause: err });
    }
    return server;
  }

  setPins(pins: McpPins): void {
    this.pins = pins;
  }

  tools(includeUnapproved: boolean): McpTool[] {
    const tools: McpTool[] = [];
    for (const [server, connection] of this.connections) {
      if (connection.state !== 'ready') continue;
      for (const tool of connection.tools) {
        const view = this.view(server, connection, tool);
        if (includeUnapproved || view.state === 'approved') tools.push(view);
      }
    }
    return tools;
  }

  servers(): McpServerState[] {
    return [...this.connections].map(([name, c]) => {
      const tools = c.state === 'ready' ? c.tools.map((t) => this.view(name, c, t)) : [];
      return {
        name,
        transport: c.config.transport,
        state: c.state,
        error: c.error,
        tools: tools.length,
        held: tools.filter((t) => t.state === 'held').length,
        approved: name in this.pins,
        lastSeenMs: c.lastSeenMs,
      };
    });
  }

  async call(request: CallToolRequest, signal?: AbortSignal): Promise<CallToolResponse> {
    const dot = request.name.indexOf('.');
    const server = dot > 0 ? request.name.slice(0, dot) : '';
    const connection = this.connections.get(server);
    if (!connection) throw new GatewayError('not_found', `No tool named ${request.name}: tools are named <server>.<tool>.`, { param: 'name' });
    if (connection.state !== 'ready') throw new GatewayError('tool_unavailable', `MCP server ${server} is not connected; retry later.`);
    const tool = connection.tools.find((t) => t.name === request.name.slice(dot + 1));
    if (!tool) throw new GatewayError('not_found', `No tool named ${request.name}.`, { param: 'name' });
    const state = this.view(server, connection, tool).state;
    if (state !== 'approved') {
      throw new GatewayError(
        'tool_held',
        `Tool ${request.name} is ${state === 'held' ? 'held: it changed since an admin approved it' : 'not approved yet'}; an admin must approve server ${server} again.`,
      );
    }
    const args = parseArguments(request.argumentsJson);
    const started = performance.now();
    const timer = this.duration.startTimer({ server });
    try {
      const result = await connection.call(tool.name, args, signal);
      const contentJson = JSON.stringify(result.content ?? []);
      const structuredJson = result.structuredContent === undefined ? '' : JSON.stringify(result.structuredContent);
      const bytes = Buffer.byteLength(contentJson) + Buffer.byteLength(structuredJson);
      if (bytes > connection.config.maxResultBytes) {
        throw new GatewayError(
          'tool_result_too_large',
          `Tool ${request.name} returned ${bytes} bytes, more than routing.mcp.servers.${server}.maxResultBytes (${connection.config.maxResultBytes}).`,
        );
      }
      this.calls.inc({ server, outcome: result.isError ? 'tool_error' : 'ok' });
      return { contentJson, isError: result.isError === true, durationMs: performance.now() - started, resultBytes: bytes, structuredJson };
    } catch (err) {
      // A call only reaches a connected server, so the SDK is loaded.
      const error = err instanceof GatewayError ? err : toolError(err, request.name, server, await mcpClientSdk());
      this.calls.inc({ server, outcome: error.code });
      throw error;
    } finally {
      timer();
    }
  }

  private view(server: string, connection: McpConnection, tool: Tool): McpTool {
    const hash = toolHash(tool);
    const pinned = this.pins[server];
    const state = !pinned ? 'pending' : pinned[tool.name] === hash ? 'approved' : 'held';
    return {
      name: `${server}.${tool.name}`,
      server,
      description: tool.description ?? '',
      inputSchemaJson: JSON.stringify(tool.inputSchema ?? { type: 'object' }),
      hash,
      state,
      autoExecute: matchesAny(connection.config.autoExecute, tool.name),
    };
  }
}

function parseArguments(json: string): Record<string, unknown> {
  if (!json) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new GatewayError('invalid_request', 'The tool arguments are not valid JSON.', { param: 'arguments' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new GatewayError('invalid_request', 'The tool arguments must be a JSON object.', { param: 'arguments' });
  return parsed as Record<string, unknown>;
}

function toolError(err: unknown, name: string, server: string, { McpError, ErrorCode }: McpClientSdk): GatewayError {
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout)
    return new GatewayError('tool_timeout', `Tool ${name} did not answer in time.`, { cause: err });
  if (err instanceof McpError && (err.code === ErrorCode.InvalidParams || err.code === ErrorCode.MethodNotFound)) {
    return new GatewayError('invalid_request', `Tool ${name} refused the call: ${err.message}`, { cause: err });
  }
  return new GatewayError('tool_unavailable', `Calling ${name} on MCP server ${server} failed: ${(err as Error).message}`, { cause: err });
}
