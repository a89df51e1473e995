import { z } from 'zod';

/**
 * MCP servers routing connects to (`routing.mcp.servers.<name>`). Their tools
 * are offered as "<name>.<tool>" once an admin approved them. Header and
 * environment values may be secret references (env:, file:, vault:).
 */

const common = {
  timeoutMs: z.number().int().positive().default(30_000).describe('Longest a tool call may take before it fails (and the call is cancelled).'),
  maxResultBytes: z.number().int().positive().default(262_144).describe('Largest tool result passed on; a larger one fails the call (tool output is untrusted).'),
  autoExecute: z
    .array(z.string().min(1))
    .default([])
    .describe('Tools (names or glob patterns, without the server prefix) the gateway may run on its own in agent mode.'),
};

const stdioServer = z.strictObject({
  transport: z.literal('stdio'),
  ...common,
  command: z.string().min(1).describe('Program to start; the gateway speaks MCP over its stdin and stdout.'),
  args: z.array(z.string()).default([]).describe('Its arguments.'),
  env: z.record(z.string(), z.string()).default({}).describe('Environment variables for it (values may be secret references); nothing else of the gateway\'s environment but PATH and HOME-like basics is passed.'),
  cwd: z.string().optional().describe('Working directory.'),
});

const httpServer = z.strictObject({
  transport: z.literal('http'),
  ...common,
  url: z.url({ protocol: /^https?$/ }).describe('Streamable HTTP endpoint, e.g. https://tools.internal/mcp.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with every request, e.g. Authorization (values may be secret references).'),
});

const sseServer = z.strictObject({
  transport: z.literal('sse'),
  ...common,
  url: z.url({ protocol: /^https?$/ }).describe('SSE endpoint of a server on the older HTTP+SSE transport, e.g. https://tools.internal/sse.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with every request (values may be secret references).'),
});

export const mcpServerConfig = z.discriminatedUnion('transport', [stdioServer, httpServer, sseServer]);
export type McpServerConfig = z.infer<typeof mcpServerConfig>;

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
