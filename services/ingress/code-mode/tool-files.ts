import type { McpTool } from '../../gen/gateway/v1/mcp.js';
import { jsDoc, memberName, schemaType } from './schema-types.js';

/**
 * A key's tools as a model sees them in code mode: one TypeScript declaration
 * file per MCP server (`servers/<server>.d.ts`), one async function per tool,
 * typed from the tool's input schema. A program calls them as
 * `await <server>.<tool>(input)`.
 */

/** The global a server's tools hang on in a program: its name, with "-" as "_" and "_" before a leading digit. */
export const serverGlobal = (server: string): string => server.replaceAll('-', '_').replace(/^(?=[0-9])/, '_');

export const filePath = (server: string): string => `servers/${server}.d.ts`;

/** The tool's name without its "<server>." prefix. */
const shortName = (tool: McpTool): string => tool.name.slice(tool.server.length + 1);

/** `.name`, or `["odd-name"]` for a name that is no identifier. */
function accessor(name: string): string {
  const member = memberName(name);
  return member === name ? `.${name}` : `[${member}]`;
}

/** One tool's declaration: its description as JSDoc, then an async function taking the input its schema describes. */
function toolDeclaration(tool: McpTool, indent: string): string {
  const input = schemaType(JSON.parse(tool.inputSchemaJson) as unknown, indent);
  return `${jsDoc(tool.description, indent)}${indent}${memberName(shortName(tool))}(input: ${input}): Promise<unknown>;`;
}

/** The declaration file of one server's tools. */
function serverFile(server: string, tools: McpTool[]): string {
  return [
    `// Tools of the MCP server "${server}". Each resolves to the tool's structured content when it gives one,`,
    '// else to its text; a tool that fails throws an Error with its message.',
    `declare const ${serverGlobal(server)}: {`,
    tools.map((tool) => toolDeclaration(tool, '  ')).join('\n'),
    '};',
    '',
  ].join('\n');
}

/** The virtual file tree: path → content, one file per server, in name order. */
export function toolFiles(tools: McpTool[]): Map<string, string> {
  const byServer = new Map<string, McpTool[]>();
  for (const tool of [...tools].sort((a, b) => a.name.localeCompare(b.name))) {
    byServer.set(tool.server, [...(byServer.get(tool.server) ?? []), tool]);
  }
  return new Map([...byServer].sort(([a], [b]) => a.localeCompare(b)).map(([server, own]) => [filePath(server), serverFile(server, own)]));
}

/** One tool's declaration on its own, as read_tool_file answers for "<server>.<tool>". */
export function toolDocumentation(tool: McpTool): string {
  return `// ${tool.name}: call as \`await ${serverGlobal(tool.server)}${accessor(shortName(tool))}(input)\`\n${toolDeclaration(tool, '')}\n`;
}
