import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../kit/log.js';
import type { SecretKeeper, SecretLookup } from '../../kit/secrets/store.js';
import type { McpServerConfig } from './config.js';
import { McpOAuth } from './oauth.js';
import { mcpClientSdk, type McpClientSdk } from './sdk.js';

/** "unauthorized": the server wants OAuth authorization code sign-in, which an admin has to start. */
export type ConnectionState = 'connecting' | 'ready' | 'down' | 'unauthorized';

export interface ConnectionOptions {
  secrets: SecretLookup & SecretKeeper;
  log: Logger;
  pingIntervalMs: number;
  maxReconnectDelayMs: number;
}

const CLIENT_INFO = { name: 'ai-gateway', version: '1' };

/**
 * One MCP server: connects with the official SDK client, lists its tools
 * (again on notifications/tools/list_changed), pings it, and reconnects with
 * doubling waits when it goes away. Secret references in headers and the
 * environment are resolved at each connect, so rotated values are used.
 */
export class McpConnection {
  state: ConnectionState = 'connecting';
  error = '';
  tools: Tool[] = [];
  lastSeenMs = 0;
  private client: Client | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private closed = false;
  private wake = new AbortController();
  readonly oauth: McpOAuth | undefined;

  constructor(
    readonly name: string,
    readonly config: McpServerConfig,
    private readonly options: ConnectionOptions,
  ) {
    this.oauth = config.transport !== 'stdio' && config.oauth ? new McpOAuth(name, config.oauth, options.secrets, options.log) : undefined;
  }

  /**
   * Starts the authorization code flow: the URL an admin opens to let the
   * gateway in; "" when stored tokens were enough (the server reconnects).
   */
  async startAuthorization(): Promise<string> {
    if (!this.oauth?.interactive || this.config.transport === 'stdio')
      throw new Error(`MCP server ${this.name} is not configured for the authorization code flow`);
    const { auth } = await mcpClientSdk();
    const result = await auth(this.oauth, { serverUrl: this.config.url });
    if (result === 'AUTHORIZED') {
      this.reconnectNow();
      return '';
    }
    return this.oauth.authorizationUrl ?? '';
  }

  /** Ends the authorization code flow with the code the authorization server sent back, then reconnects. */
  async completeAuthorization(code: string): Promise<void> {
    if (!this.oauth || this.config.transport === 'stdio') throw new Error(`MCP server ${this.name} is not configured for OAuth`);
    const { auth } = await mcpClientSdk();
    await auth(this.oauth, { serverUrl: this.config.url, authorizationCode: code });
    this.reconnectNow();
  }

  /** Skips the wait before the next connection attempt. */
  private reconnectNow(): void {
    this.wake.abort();
  }

  start(): void {
    void this.connect();
  }

  async call(tool: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallToolResult> {
    const client = this.client;
    if (!client || this.state !== 'ready') throw new Error(`MCP server ${this.name} is not connected`);
    return (await client.callTool({ name: tool, arguments: args }, undefined, { timeout: this.config.timeoutMs, signal })) as CallToolResult;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake.abort();
    clearInterval(this.pinger);
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const sdk = await mcpClientSdk();
    try {
      await this.oauth?.load();
    } catch (err) {
      this.options.log.error({ server: this.name, reason: (err as Error).message }, 'could not read stored MCP OAuth tokens; an admin has to authorize again');
    }
    for (let attempt = 0; !this.closed; attempt++) {
      this.state = 'connecting';
      const client = new sdk.Client(CLIENT_INFO, { capabilities: {} });
      try {
        await client.connect(this.transport(sdk), { timeout: this.config.timeoutMs });
        client.setNotificationHandler(sdk.ToolListChangedNotificationSchema, () => {
          this.refresh(client).catch((err: unknown) =>
            this.options.log.warn({ server: this.name, reason: (err as Error).message }, 'MCP tool list refresh failed'),
          );
        });
        await this.refresh(client);
        if (this.closed) return void (await client.close());
        client.onclose = () => this.lost(client, 'the connection closed');
        this.client = client;
        this.state = 'ready';
        this.error = '';
        this.lastSeenMs = Date.now();
        this.startPings(client);
        this.options.log.info({ server: this.name, tools: this.tools.length }, 'MCP server connected');
        return;
      } catch (err) {
        await client.close().catch(() => undefined);
        const unauthorized = err instanceof sdk.UnauthorizedError && this.oauth?.interactive;
        this.state = unauthorized ? 'unauthorized' : 'down';
        this.error = unauthorized ? `the server wants the gateway authorized: POST /admin/mcp/servers/${this.name}/authorize` : (err as Error).message;
        const delay = Math.min(this.options.maxReconnectDelayMs, 500 * 2 ** Math.min(attempt, 10));
        this.options.log.warn({ server: this.name, reason: this.error, retryInMs: delay }, 'MCP server unreachable; retrying');
        await sleep(delay, undefined, { signal: this.wake.signal }).catch(() => (this.wake = new AbortController()));
      }
    }
  }

  /** The connection ended (the server exited, the network failed, or a ping went unanswered): reconnect. */
  private lost(client: Client, reason: string): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    clearInterval(this.pinger);
    this.state = 'down';
    this.error = reason;
    this.options.log.warn({ server: this.name, reason }, 'MCP server connection lost; reconnecting');
    void this.connect();
  }

  private async refresh(client: Client): Promise<void> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: this.config.timeoutMs });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    this.tools = tools;
  }

  private startPings(client: Client): void {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      client.ping({ timeout: Math.min(this.config.timeoutMs, 10_000) }).then(
        () => (this.lastSeenMs = Date.now()),
        (err: unknown) => {
          this.lost(client, `no answer to ping: ${(err as Error).message}`);
          void client.close().catch(() => undefined);
        },
      );
    }, this.options.pingIntervalMs);
    this.pinger.unref();
  }

  private transport({ StdioClientTransport, getDefaultEnvironment, StreamableHTTPClientTransport, SSEClientTransport }: McpClientSdk): Transport {
    const config = this.config;
    const resolve = (values: Record<string, string>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.options.secrets.get(v).value]));
    switch (config.transport) {
      case 'stdio': {
        const transport = new StdioClientTransport({
          command: config.command,
          args: config.args,
          env: { ...getDefaultEnvironment(), ...resolve(config.env) },
          cwd: config.cwd,
          stderr: 'pipe',
        });
        // Read, so a chatty server never blocks on a full pipe; kept at debug level (it is the server's own output).
        transport.stderr?.on('data', (chunk: Buffer) =>
          this.options.log.debug({ server: this.name, stderr: chunk.toString('utf8').slice(0, 2_000) }, 'MCP server stderr'),
        );
        return transport;
      }
      case 'http':
        return new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers: resolve(config.headers) }, authProvider: this.oauth });
      case 'sse':
        return new SSEClientTransport(new URL(config.url), { requestInit: { headers: resolve(config.headers) }, authProvider: this.oauth });
    }
  }
}
