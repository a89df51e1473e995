/**
 * An MCP server over stdio for tests (the arithmetic tools), started by the
 * gateway as a configured command: node --import tsx test/fakes/mcp-stdio-server.ts
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { calcTools, toolServer } from './mcp-servers.js';

await toolServer('calc', calcTools()).connect(new StdioServerTransport());
