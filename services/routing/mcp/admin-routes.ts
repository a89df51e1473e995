import type { FastifyPluginAsync } from 'fastify';
import type { McpServerState, McpTool } from '../../gen/gateway/v1/mcp.js';
import { GatewayError } from '../../kit/errors.js';
import type { RoutingAdmin } from '../admin-routes.js';

const toolView = (t: McpTool) => ({
  name: t.name,
  description: t.description,
  input_schema: JSON.parse(t.inputSchemaJson) as unknown,
  hash: t.hash,
  state: t.state,
  auto_execute: t.autoExecute,
});

const serverView = (s: McpServerState, tools: McpTool[]) => ({
  name: s.name,
  transport: s.transport,
  state: s.state,
  error: s.error || null,
  approved: s.approved,
  held: s.held,
  last_seen_at: s.lastSeenMs ? new Date(s.lastSeenMs).toISOString() : null,
  tools: tools.filter((t) => t.server === s.name).map(toolView),
});

/**
 * MCP servers as routing sees them, and their approval. Approving a server
 * pins the hash of each of its tools (name, description, schemas) as they are
 * now; a tool that changes afterwards is held, and not offered or called,
 * until an admin approves the server again. Approvals are stored in
 * routing's table like its other admin-managed entries, and reach every
 * routing replica.
 */
export const mcpAdminRoutes: FastifyPluginAsync<RoutingAdmin> = async (app, { routing, record }) => {
  const tags = ['mcp'];

  async function state(): Promise<{ servers: McpServerState[]; tools: McpTool[] }> {
    const [{ servers }, { tools }] = await Promise.all([routing.listMcpServers({}), routing.listTools({ includeUnapproved: true })]);
    return { servers, tools };
  }

  app.get(
    '/admin/mcp/servers',
    { config: { requires: 'read' }, schema: { tags, summary: 'MCP servers: connection state, tools, and whether each tool is approved, pending or held' } },
    async () => {
      const { servers, tools } = await state();
      return { data: servers.map((s) => serverView(s, tools)) };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/admin/mcp/servers/:name/approve',
    {
      config: { requires: 'manage_routing' },
      schema: { tags, summary: "Approve a server's tools as they are now (pins their hashes); changed tools are held until approved again" },
    },
    async (request) => {
      const { name } = request.params;
      const { servers, tools } = await state();
      const server = servers.find((s) => s.name === name);
      if (!server) throw new GatewayError('not_found', `No MCP server named ${name} in routing.mcp.servers.`);
      if (server.state !== 'ready')
        throw new GatewayError(
          'conflict',
          `MCP server ${name} is ${server.state}${server.error ? ` (${server.error})` : ''}: its tools can be approved once it is connected.`,
        );
      const own = tools.filter((t) => t.server === name);
      const pins = Object.fromEntries(own.map((t) => [t.name.slice(name.length + 1), t.hash]));
      const { before } = await routing.putAdminEntry({ kind: 'mcp', name, entryJson: JSON.stringify({ pins }) });
      // The resource name starts with routing_ so every routing replica reloads its approvals.
      record(request.principal!, 'routing_mcp', 'approve', name, before && (JSON.parse(before.entryJson) as object), { pins });
      return serverView(
        { ...server, approved: true, held: 0 },
        own.map((t) => ({ ...t, state: 'approved' })),
      );
    },
  );

  app.post<{ Params: { name: string } }>(
    '/admin/mcp/servers/:name/authorize',
    {
      config: { requires: 'manage_routing' },
      schema: { tags, summary: 'Start OAuth sign-in for a server (authorization code with PKCE): open the authorization_url returned in a browser' },
    },
    async (request) => {
      const { authorizationUrl } = await routing.startMcpAuthorization({ server: request.params.name });
      record(request.principal!, 'routing_mcp', 'authorize', request.params.name, undefined, { started: true });
      return { authorization_url: authorizationUrl || null };
    },
  );

  // Reached by the admin's browser from the authorization server, so it carries no admin token: the single-use
  // state (bound to the PKCE verifier routing holds) is what makes it trustworthy.
  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/admin/mcp/oauth/callback',
    { config: { requires: 'no_token' }, schema: { tags, summary: 'OAuth redirect target for MCP server sign-in (no admin token)', security: [] } },
    async (request) => {
      const { code, state, error, error_description: description } = request.query;
      if (error) throw new GatewayError('invalid_request', `The authorization server refused: ${error}${description ? ` (${description})` : ''}.`);
      if (!code || !state) throw new GatewayError('invalid_request', 'The callback needs the code and state the authorization server sends.');
      const { server } = await routing.completeMcpAuthorization({ state, code });
      record({ name: `oauth-callback:${server}`, role: 'admin' }, 'routing_mcp', 'authorized', server, undefined, { authorized: true });
      return { server, authorized: true, message: `MCP server ${server} is authorized; the gateway connects to it now. You can close this window.` };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/admin/mcp/servers/:name/approval',
    { config: { requires: 'manage_routing' }, schema: { tags, summary: "Withdraw a server's approval: its tools are no longer offered" } },
    async (request, reply) => {
      const { removed } = await routing.removeAdminEntry({ kind: 'mcp', name: request.params.name });
      if (!removed) throw new GatewayError('not_found', `MCP server ${request.params.name} is not approved.`);
      record(request.principal!, 'routing_mcp', 'withdraw', request.params.name, JSON.parse(removed.entryJson) as object, undefined);
      return reply.code(204).send();
    },
  );
};
