import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { onFirstUse } from '../kit/first-use.js';
import { InboundRequest, refuse, type PipelineDeps } from './pipeline.js';
import { callMetaTool, META_TOOLS } from './code-mode/meta-tools.js';
import { resultText, ToolAccess, toolNameOf } from './tools.js';

const SERVER_INFO = { name: 'ai-gateway', version: '1' };

/** The MCP SDK's server, loaded with the first request to /mcp: most gateways never serve one. */
const mcpServerSdk = onFirstUse(async () => {
  const [server, http, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/index.js'),
    import('@modelcontextprotocol/sdk/server/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  return { Server: server.Server, StreamableHTTPServerTransport: http.StreamableHTTPServerTransport, ...types };
});
type McpServerSdk = Awaited<ReturnType<typeof mcpServerSdk>>;
type McpServer = InstanceType<McpServerSdk['Server']>;

/**
 * The gateway as an MCP server (Streamable HTTP, stateless, JSON responses)
 * at /mcp, authenticated by virtual key: each key lists and calls only the
 * approved tools its allowlist grants, from every MCP server routing is
 * connected to. A tool that fails answers as a tool error (isError), as MCP
 * clients expect; a tool the key may not use is a protocol error.
 */
async function serveMcp(deps: PipelineDeps, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  let access: ToolAccess;
  try {
    access = await ToolAccess.open(deps, request);
  } catch (err) {
    const error = refuse(deps, request, reply, asGatewayError(err));
    return void reply
      .code(error.status)
      .header('www-authenticate', 'Bearer')
      .send({ jsonrpc: '2.0', error: { code: -32001, message: error.message }, id: null });
  }
  recordedByToolCalls(deps, request, reply);
  const sdk = await mcpServerSdk();
  const server = new sdk.Server(SERVER_INFO, { capabilities: { tools: {} } });
  if (access.codeMode) serveCodeMode(server, access, deps, sdk);
  else serveTools(server, access, sdk);
  const transport = new sdk.StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  reply.hijack();
  reply.raw.setHeader('x-request-id', request.id);
  reply.raw.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(request.raw, reply.raw, request.body);
}

/** Each tool the key may use, offered and called one by one. */
function serveTools(server: McpServer, access: ToolAccess, { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode }: McpServerSdk): void {
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: (await access.list()).map((tool) => ({
      name: tool.name,
      description: tool.description,
      inputSchema: JSON.parse(tool.inputSchemaJson) as { type: 'object' },
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (call): Promise<CallToolResult> => {
    try {
      const result = await access.call(call.params.name, JSON.stringify(call.params.arguments ?? {}), 'mcp');
      return {
        content: JSON.parse(result.contentJson) as CallToolResult['content'],
        isError: result.isError,
        ...(result.structuredJson ? { structuredContent: JSON.parse(result.structuredJson) as Record<string, unknown> } : {}),
      };
    } catch (err) {
      const error = asGatewayError(err);
      if (error.code === 'tool_not_allowed' || error.code === 'not_found' || error.code === 'invalid_request')
        throw new McpError(ErrorCode.InvalidParams, error.message);
      return { content: [{ type: 'text', text: error.message }], isError: true };
    }
  });
}

/** Code mode: the meta-tools (docs/mcp.md), through which programs call the key's tools. */
function serveCodeMode(
  server: McpServer,
  access: ToolAccess,
  deps: PipelineDeps,
  { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode }: McpServerSdk,
): void {
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: META_TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (call): Promise<CallToolResult> => {
    const answer = await callMetaTool(access, deps, call.params.name, call.params.arguments ?? {});
    if (!answer) throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${call.params.name}: in code mode, call tools from a program with execute_code.`);
    return answer;
  });
}

/** Accepts `{name, arguments}` or an OpenAI tool call (`{id, function: {name, arguments}}`), arguments as object or JSON text. */
function toolCallOf(body: unknown): { id: string; name: string; argumentsJson: string } {
  const b = (body ?? {}) as { id?: unknown; name?: unknown; arguments?: unknown; function?: { name?: unknown; arguments?: unknown } };
  const name = b.function?.name ?? b.name;
  const args = b.function ? b.function.arguments : b.arguments;
  if (typeof name !== 'string' || name === '')
    throw new GatewayError('invalid_request', "Missing required parameter: 'name' (or 'function.name' of a tool call).", { param: 'name' });
  const argumentsJson = args === undefined || args === null ? '{}' : typeof args === 'string' ? args : JSON.stringify(args);
  return { id: typeof b.id === 'string' ? b.id : '', name: toolNameOf(name), argumentsJson };
}

/** POST /v1/mcp/tools/execute: runs one tool call a model returned, with the key's allowlist, and answers with the tool message to send back. */
async function executeTool(deps: PipelineDeps, request: FastifyRequest, reply: FastifyReply) {
  const access = await ToolAccess.open(deps, request);
  const call = toolCallOf(request.body);
  recordedByToolCalls(deps, request, reply);
  const result = await access.call(call.name, call.argumentsJson, 'execute');
  return {
    name: call.name,
    is_error: result.isError,
    content: JSON.parse(result.contentJson) as unknown,
    ...(result.structuredJson ? { structured_content: JSON.parse(result.structuredJson) as unknown } : {}),
    message: { role: 'tool', tool_call_id: call.id, content: resultText(result) },
  };
}

/** Once a key may use tools, the request's record is the tool.called event of each call it makes. */
function recordedByToolCalls(deps: PipelineDeps, request: FastifyRequest, reply: FastifyReply): void {
  new InboundRequest(deps, request, reply, request.routeOptions.config.endpoint ?? '').recordedElsewhere();
}

export function registerMcpRoutes(app: FastifyInstance, deps: PipelineDeps): void {
  const mcp = { config: { endpoint: 'mcp' } };
  app.post('/mcp', mcp, (request, reply) => serveMcp(deps, request, reply));
  // Stateless: no server-initiated stream and no sessions to end.
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      ...mcp,
      handler: (request, reply) => {
        const error = refuse(
          deps,
          request,
          reply,
          new GatewayError('method_not_allowed', 'Method not allowed: this MCP endpoint is stateless; send requests with POST.'),
        );
        return reply
          .code(error.status)
          .header('allow', 'POST')
          .send({ jsonrpc: '2.0', error: { code: -32000, message: error.message }, id: null });
      },
    });
  }
  for (const prefix of ['/v1', '']) {
    app.post(`${prefix}/mcp/tools/execute`, { config: { endpoint: 'mcp.tools.execute' } }, (request, reply) => executeTool(deps, request, reply));
  }
}
