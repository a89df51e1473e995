import { onFirstUse } from '../../kit/first-use.js';

/**
 * The MCP SDK's client, loaded when the first MCP server connects: a gateway
 * without MCP servers does not hold its code and schemas in memory.
 */
export const mcpClientSdk = onFirstUse(async () => {
  const [auth, client, sse, stdio, http, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/auth.js'),
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/sse.js'),
    import('@modelcontextprotocol/sdk/client/stdio.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  return {
    auth: auth.auth,
    UnauthorizedError: auth.UnauthorizedError,
    Client: client.Client,
    SSEClientTransport: sse.SSEClientTransport,
    StdioClientTransport: stdio.StdioClientTransport,
    getDefaultEnvironment: stdio.getDefaultEnvironment,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    ToolListChangedNotificationSchema: types.ToolListChangedNotificationSchema,
    McpError: types.McpError,
    ErrorCode: types.ErrorCode,
  };
});

export type McpClientSdk = Awaited<ReturnType<typeof mcpClientSdk>>;
