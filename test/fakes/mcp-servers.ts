import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';

/**
 * MCP servers for tests, built with the official SDK's Server class, so the
 * gateway's client meets real protocol handling: a tool set served over
 * stdio (mcp-stdio-server.ts) or Streamable HTTP with sessions (so tool list
 * changes can be announced).
 */

export interface FakeTool extends Tool {
  run(args: Record<string, unknown>): CallToolResult | Promise<CallToolResult>;
}

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

/** Weather tools: a forecast, and one that always reports an error. */
export function weatherTools(): FakeTool[] {
  return [
    {
      name: 'get_forecast',
      description: 'Weather forecast for a city.',
      inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      run: (args) => text(`Sunny, 21 °C in ${String(args.city)}`),
    },
    {
      name: 'get_alerts',
      description: 'Weather alerts for a region.',
      inputSchema: { type: 'object', properties: { region: { type: 'string' } } },
      run: (args) => ({ content: [{ type: 'text', text: `No alert service for ${String(args.region)}` }], isError: true }),
    },
  ];
}

/** Arithmetic tools. */
export function calcTools(): FakeTool[] {
  return [
    {
      name: 'add',
      description: 'Adds two numbers.',
      inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      run: (args) => ({ ...text(String(Number(args.a) + Number(args.b))), structuredContent: { sum: Number(args.a) + Number(args.b) } }),
    },
    {
      name: 'multiply',
      description: 'Multiplies two numbers.',
      inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      run: (args) => text(String(Number(args.a) * Number(args.b))),
    },
  ];
}

export function toolServer(name: string, tools: FakeTool[]): Server {
  const server = new Server({ name, version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools.map(({ run: _, ...tool }) => tool) }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const tool = tools.find((t) => t.name === request.params.name);
    if (!tool) return { content: [{ type: 'text', text: `unknown tool ${request.params.name}` }], isError: true };
    return tool.run(request.params.arguments ?? {});
  });
  return server;
}

export interface FakeMcpHttpServer {
  /** The Streamable HTTP endpoint. */
  readonly url: string;
  readonly tools: FakeTool[];
  /** Every tools/call received, in order. */
  readonly calls: { name: string; arguments: Record<string, unknown> }[];
  /** Changes a tool's description and tells connected clients the tool list changed. */
  redescribe(tool: string, description: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A resource server in the MCP authorization spec's sense: every request needs
 * a bearer token the authorization server issued for this resource; without
 * one the answer is 401 with WWW-Authenticate pointing at the protected
 * resource metadata (RFC 9728), which names the authorization server.
 */
export interface McpAuth {
  issuer: string;
  valid(token: string, resource: string): boolean;
}

/** An inventory server with many tools, as real ones have: what code mode saves grows with it. */
export function inventoryTools(count: number): FakeTool[] {
  return Array.from({ length: count }, (_, i) => ({
    name: i === 0 ? 'find_items' : `report_${i}`,
    description: i === 0 ? 'Finds items in stock.' : `Inventory report number ${i}: stock levels, movements and valuation for one warehouse.`,
    inputSchema: {
      type: 'object',
      properties: {
        warehouse: { type: 'string', description: 'Warehouse code, e.g. "LYS-1".' },
        status: { type: 'string', enum: ['in_stock', 'reserved', 'shipped'] },
        tags: { type: 'array', items: { type: 'string' } },
        range: { type: 'object', properties: { from: { type: 'string', format: 'date' }, to: { type: 'string', format: 'date' } }, required: ['from'] },
        limit: { anyOf: [{ type: 'integer' }, { type: 'null' }], description: 'Most items to return.' },
      },
      required: ['warehouse'],
    },
    run: (args) => ({ content: [{ type: 'text', text: `${String(args.warehouse)}: 3 items` }], structuredContent: { warehouse: args.warehouse, items: 3 } }),
  }));
}

/** A Streamable HTTP MCP server with sessions, one SDK Server per session; with `auth`, an OAuth-protected one. */
export async function startMcpHttpServer(name: string, tools: FakeTool[], auth?: McpAuth): Promise<FakeMcpHttpServer> {
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: Server }>();
  const calls: FakeMcpHttpServer['calls'] = [];
  const recorded = tools.map((tool) => ({
    ...tool,
    run: (args: Record<string, unknown>) => {
      calls.push({ name: tool.name, arguments: args });
      return tool.run(args);
    },
  }));
  let url = '';
  const metadataPath = '/.well-known/oauth-protected-resource/mcp';
  const http = createServer((req, res) => {
    void (async () => {
      if (auth && req.url === metadataPath)
        return writeJson(res, 200, { resource: url, authorization_servers: [auth.issuer], bearer_methods_supported: ['header'] });
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (auth && !(bearer && auth.valid(bearer, url))) {
        const resourceMetadata = `${new URL(url).origin}${metadataPath}`;
        return writeJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': `Bearer error="invalid_token", resource_metadata="${resourceMetadata}"` });
      }
      const raw = await readBody(req);
      const body = raw.length > 0 ? (JSON.parse(raw.toString('utf8')) as unknown) : undefined;
      const id = req.headers['mcp-session-id'];
      let session = typeof id === 'string' ? sessions.get(id) : undefined;
      if (!session) {
        const server = toolServer(name, recorded);
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sessionId) => void sessions.set(sessionId, { transport, server }),
        });
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await server.connect(transport);
        session = { transport, server };
      }
      await session.transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  const local = await listenLocally(http);
  url = `${local.url}/mcp`;
  return {
    url,
    tools: recorded,
    calls,
    async redescribe(tool, description) {
      recorded.find((t) => t.name === tool)!.description = description;
      await Promise.all([...sessions.values()].map(({ server }) => server.sendToolListChanged()));
    },
    async close() {
      await Promise.all([...sessions.values()].map(({ transport }) => transport.close()));
      await local.close();
    },
  };
}

/** An MCP server on the older HTTP+SSE transport: GET /sse opens the event stream, POST /messages?sessionId= carries requests. */
export async function startMcpSseServer(name: string, tools: FakeTool[]): Promise<{ readonly url: string; close(): Promise<void> }> {
  const sessions = new Map<string, SSEServerTransport>();
  const http = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/sse') {
        const transport = new SSEServerTransport('/messages', res);
        sessions.set(transport.sessionId, transport);
        transport.onclose = () => sessions.delete(transport.sessionId);
        await toolServer(name, tools).connect(transport);
        return;
      }
      const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
      if (req.method !== 'POST' || url.pathname !== '/messages' || !transport) return void res.writeHead(404).end('unknown session');
      await transport.handlePostMessage(req, res, JSON.parse((await readBody(req)).toString('utf8')) as unknown);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  const local = await listenLocally(http);
  return {
    url: `${local.url}/sse`,
    async close() {
      await Promise.all([...sessions.values()].map((transport) => transport.close()));
      await local.close();
    },
  };
}
