import { z } from 'zod';

/**
 * MCP servers routing connects to (`routing.mcp.servers.<name>`). Their tools
 * are offered as "<name>.<tool>" once an admin approved them. Header and
 * environment values may be secret references (env:, file:, vault:).
 */

const common = {
  timeoutMs: z.number().int().positive().default(30_000).describe('Longest a tool call may take before it fails (and the call is cancelled).'),
  maxResultBytes: z
    .number()
    .int()
    .positive()
    .default(262_144)
    .describe('Largest tool result passed on; a larger one fails the call (tool output is untrusted).'),
  autoExecute: z
    .array(z.string().min(1))
    .default([])
    .describe('Tools (names or glob patterns, without the server prefix) the gateway may run on its own in agent mode.'),
};

const oauthCommon = {
  issuer: z.url({ protocol: /^https?$/ }).describe('The authorization server the client is registered with; credentials and tokens are presented to it only.'),
  clientId: z.string().min(1).describe('OAuth client id.'),
  scope: z.string().optional().describe('Scopes to ask for (space-separated); default: what the server advertises.'),
};

const oauthConfig = z
  .discriminatedUnion('grant', [
    z.strictObject({
      grant: z.literal('client_credentials'),
      ...oauthCommon,
      clientSecret: z.string().min(1).describe('Client secret (a secret reference), sent with client_secret_basic.'),
    }),
    z.strictObject({
      grant: z.literal('authorization_code'),
      ...oauthCommon,
      clientSecret: z
        .string()
        .min(1)
        .optional()
        .describe('Client secret (a secret reference) for a confidential client; none for a public client (PKCE alone).'),
      redirectUrl: z
        .url({ protocol: /^https?$/ })
        .describe("The admin API's callback as the authorization server reaches the browser: https://<admin host>/admin/mcp/oauth/callback."),
      tokenStore: z
        .string()
        .regex(/^(file|vault):.+/, 'a file:<path> or vault:<mount>/<path>#<field> reference')
        .describe('Where the tokens (the refresh token included) are kept, so they outlive restarts: written by the gateway, as JSON.'),
    }),
  ])
  .optional()
  .describe(
    'OAuth 2.1 for the server (MCP authorization): client credentials, or authorization code with PKCE started by an admin; tokens are refreshed as they expire.',
  );

const stdioServer = z.strictObject({
  transport: z.literal('stdio'),
  ...common,
  command: z.string().min(1).describe('Program to start; the gateway speaks MCP over its stdin and stdout.'),
  args: z.array(z.string()).default([]).describe('Its arguments.'),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe(
      "Environment variables for it (values may be secret references); nothing else of the gateway's environment but PATH and HOME-like basics is passed.",
    ),
  cwd: z.string().optional().describe('Working directory.'),
});

const httpServer = z.strictObject({
  transport: z.literal('http'),
  ...common,
  url: z.url({ protocol: /^https?$/ }).describe('Streamable HTTP endpoint, e.g. https://tools.internal/mcp.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with every request, e.g. Authorization (values may be secret references).'),
  oauth: oauthConfig,
});

const sseServer = z.strictObject({
  transport: z.literal('sse'),
  ...common,
  url: z.url({ protocol: /^https?$/ }).describe('SSE endpoint of a server on the older HTTP+SSE transport, e.g. https://tools.internal/sse.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with every request (values may be secret references).'),
  oauth: oauthConfig,
});

export const mcpServerConfig = z.discriminatedUnion('transport', [stdioServer, httpServer, sseServer]);
export type McpServerConfig = z.infer<typeof mcpServerConfig>;
export type McpOAuthConfig = NonNullable<z.infer<typeof oauthConfig>>;

/** The secret references routing reads at start: all but OAuth token stores, which the gateway writes. */
export function secretValuesOf(config: McpConfig): unknown[] {
  return Object.values(config.servers).map((server) =>
    server.transport === 'stdio' || !server.oauth ? server : { ...server, oauth: { ...server.oauth, tokenStore: undefined } },
  );
}

export const mcpConfig = z
  .strictObject({
    servers: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a lowercase name: letters, digits, "_" and "-"'), mcpServerConfig)
      .default({})
      .describe('MCP servers by name; the name prefixes their tools ("<name>.<tool>").'),
    pingIntervalMs: z.number().int().positive().default(30_000).describe('How often each server is pinged; one that does not answer is reconnected.'),
    maxReconnectDelayMs: z.number().int().positive().default(30_000).describe('Longest wait between reconnection attempts (the wait doubles from 0.5 s).'),
  })
  .prefault({});

export type McpConfig = z.infer<typeof mcpConfig>;
