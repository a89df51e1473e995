import { createHash } from 'node:crypto';
import type { FunctionTool, ToolCall, ToolChoice } from '../canonical.js';
import { invalid } from './chat.js';
import { newId } from './responses-object.js';

/**
 * The Responses API's tools, as chat function tools and back. Namespaces are
 * flattened to one function per member, custom (freeform) tools take a single
 * string `input`, and `local_shell` becomes a function taking the command; the
 * model's calls come back as the item type the client offered (function_call
 * with its namespace, custom_tool_call, local_shell_call). The tools OpenAI
 * runs on its own servers have no chat equivalent and are refused by name.
 */

type Item = Record<string, unknown>;

/**
 * Tools that only OpenAI runs or emits: refused here, on the translated path; web search and image generation are
 * served natively instead where the model is OpenAI's (responses-native.ts), the rest never (docs/routing.md).
 */
const HOSTED = new Set([
  'web_search',
  'web_search_preview',
  'web_search_2025_08_26',
  'web_search_preview_2025_03_11',
  'file_search',
  'mcp',
  'computer_use_preview',
  'computer',
  'image_generation',
  'code_interpreter',
  'shell',
  'apply_patch',
  'tool_search',
]);

/** Whether a tool is one only OpenAI's servers run. */
export const isHosted = (tool: unknown): boolean => HOSTED.has(String((tool as Item | null)?.type));

/** What a chat function name stands for in the client's request. */
interface Entry {
  kind: 'function' | 'custom' | 'local_shell';
  name: string;
  namespace?: string;
}

/** The function name local_shell is offered under. */
export const LOCAL_SHELL = 'local_shell';
/** Chat providers take function names of at most 64 characters (OpenAI's and Anthropic's limit). */
const MAX_NAME = 64;

/** The chat function name of a tool, within its namespace if any: the same for the tools offered and the calls in input. */
export function flatName(name: string, namespace?: unknown): string {
  if (typeof namespace !== 'string' || !namespace) return name;
  // Codex names its namespaces `mcp__server__`: joined as they are, the member reads as Codex's own flat MCP names.
  const joined = namespace.endsWith('_') ? `${namespace}${name}` : `${namespace}__${name}`;
  if (joined.length <= MAX_NAME) return joined;
  const digest = createHash('sha256').update(joined).digest('hex').slice(0, 8);
  return `${joined.slice(0, MAX_NAME - 9)}_${digest}`;
}

function customDescription(tool: Item): string {
  const format = tool.format as Item | undefined;
  const base = typeof tool.description === 'string' ? tool.description : '';
  if (format?.type !== 'grammar') return base;
  return `${base}\n\nThe input must follow this ${String(format.syntax ?? '')} grammar:\n${String(format.definition ?? '')}`.trim();
}

function asFunction(tool: Item, name: string): FunctionTool {
  return {
    type: 'function',
    function: {
      name,
      description: (tool.description as string | null | undefined) ?? undefined,
      parameters: (tool.parameters as Record<string, unknown> | null | undefined) ?? undefined,
      strict: tool.strict as boolean | undefined,
    },
  };
}

function asCustom(tool: Item, name: string): FunctionTool {
  return {
    type: 'function',
    function: {
      name,
      description: customDescription(tool),
      parameters: {
        type: 'object',
        properties: { input: { type: 'string', description: 'The whole input of the tool, as free text.' } },
        required: ['input'],
        additionalProperties: false,
      },
    },
  };
}

const localShell: FunctionTool = {
  type: 'function',
  function: {
    name: LOCAL_SHELL,
    description: "Runs a command on the user's machine and returns its output.",
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'array', items: { type: 'string' }, description: 'The program and its arguments.' },
        workdir: { type: 'string', description: 'The directory to run it in.' },
        timeout_ms: { type: 'integer', description: 'How long it may run, in milliseconds.' },
      },
      required: ['command'],
    },
  },
};

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class ResponsesTools {
  readonly chat: FunctionTool[] | undefined;
  private readonly entries = new Map<string, Entry>();

  constructor(tools: unknown) {
    if (tools === undefined || tools === null) {
      this.chat = undefined;
      return;
    }
    if (!Array.isArray(tools)) throw invalid("Invalid 'tools': expected an array.", 'tools');
    this.chat = [];
    tools.forEach((tool: Item, i) => this.add(tool, `tools[${i}]`));
  }

  private add(tool: Item, param: string, namespace?: string): void {
    const type = String(tool.type);
    if (type === 'function' || type === 'custom') {
      const flat = flatName(String(tool.name), namespace);
      this.register(flat, { kind: type, name: String(tool.name), namespace }, param);
      this.chat!.push(type === 'function' ? asFunction(tool, flat) : asCustom(tool, flat));
    } else if (type === 'local_shell' && !namespace) {
      this.register(LOCAL_SHELL, { kind: 'local_shell', name: LOCAL_SHELL }, param);
      this.chat!.push(localShell);
    } else if (type === 'namespace' && !namespace) {
      if (!Array.isArray(tool.tools)) throw invalid(`Invalid '${param}.tools': expected an array of function and custom tools.`, `${param}.tools`);
      tool.tools.forEach((member: Item, j) => this.add(member, `${param}.tools[${j}]`, String(tool.name)));
    } else if (HOSTED.has(type)) {
      throw invalid(
        `Invalid '${param}': the ${type} tool runs on OpenAI's servers, and the gateway serves the Responses API through chat completions, where no provider runs it. Leave it out, or offer it as a function tool your client runs.`,
        `${param}.type`,
      );
    } else {
      throw invalid(`Invalid '${param}': the tool type ${type} is not supported${namespace ? ' inside a namespace' : ''}.`, `${param}.type`);
    }
  }

  private register(flat: string, entry: Entry, param: string): void {
    if (this.entries.has(flat)) throw invalid(`Invalid '${param}': a tool named ${flat} is offered twice.`, param);
    this.entries.set(flat, entry);
  }

  /** `tool_choice` in chat terms: a named function or custom tool by its flat name. */
  toolChoice(choice: unknown): ToolChoice | undefined {
    if (choice === undefined || choice === null) return undefined;
    if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
    const named = choice as Item;
    if ((named?.type === 'function' || named?.type === 'custom') && typeof named.name === 'string')
      return { type: 'function', function: { name: flatName(named.name, named.namespace) } };
    if (named?.type === 'local_shell') return { type: 'function', function: { name: LOCAL_SHELL } };
    // allowed_tools narrows the set for this turn; chat has no such list, so its mode is kept and the tools stay offered.
    if (named?.type === 'allowed_tools' && (named.mode === 'auto' || named.mode === 'required')) return named.mode;
    throw invalid(`Invalid 'tool_choice': ${String(named?.type ?? choice)} is not a tool the gateway can offer the model.`, 'tool_choice');
  }

  /** The output item for the model's call of the chat function `call.name`, as the type of tool the client offered. */
  outputItem(call: { itemId: string; callId: string; name: string; arguments: string }): Item {
    const entry = this.entries.get(call.name);
    const base = { id: call.itemId, call_id: call.callId, status: 'completed' };
    if (entry?.kind === 'custom') {
      const parsed = parseJson(call.arguments) as Item | undefined;
      // A model that answered with bare text instead of {"input": ...} still meant that text as the input.
      const input = typeof parsed?.input === 'string' ? parsed.input : call.arguments;
      return { type: 'custom_tool_call', ...base, name: entry.name, input, ...(entry.namespace ? { namespace: entry.namespace } : {}) };
    }
    if (entry?.kind === 'local_shell') {
      const parsed = parseJson(call.arguments) as Item | undefined;
      const command = parsed?.command;
      if (Array.isArray(command) && command.every((part) => typeof part === 'string')) {
        const action = {
          type: 'exec',
          command,
          env: {},
          timeout_ms: typeof parsed?.timeout_ms === 'number' ? parsed.timeout_ms : null,
          working_directory: typeof parsed?.workdir === 'string' ? parsed.workdir : null,
          user: null,
        };
        return { type: 'local_shell_call', ...base, action };
      }
    }
    return {
      type: 'function_call',
      ...base,
      name: entry?.name ?? call.name,
      arguments: call.arguments,
      ...(entry?.namespace ? { namespace: entry.namespace } : {}),
    };
  }

  /** The kind of item a streamed call of `name` becomes, for its events. */
  kindOf(name: string): Entry['kind'] {
    return this.entries.get(name)?.kind ?? 'function';
  }
}

/** The text of a tool output: a string, or the text of its content parts. */
export function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output) && output.every((part: Item) => part?.type === 'input_text')) return output.map((part: Item) => String(part.text ?? '')).join('');
  return JSON.stringify(output ?? '');
}

/** The chat tool call for a call item of the input (function_call, custom_tool_call, local_shell_call). */
export function inputCall(item: Item, i: number): ToolCall {
  const id = String(item.call_id ?? item.id ?? newId('call'));
  switch (item.type) {
    case 'custom_tool_call':
      return {
        id,
        type: 'function',
        function: { name: flatName(String(item.name), item.namespace), arguments: JSON.stringify({ input: String(item.input ?? '') }) },
      };
    case 'local_shell_call': {
      const action = item.action as Item | undefined;
      if (!Array.isArray(action?.command)) throw invalid(`Invalid 'input[${i}].action.command': expected an array of strings.`, `input[${i}].action.command`);
      const args = { command: action.command, workdir: action.working_directory ?? undefined, timeout_ms: action.timeout_ms ?? undefined };
      return { id, type: 'function', function: { name: LOCAL_SHELL, arguments: JSON.stringify(args) } };
    }
    default:
      return { id, type: 'function', function: { name: flatName(String(item.name), item.namespace), arguments: String(item.arguments ?? '') } };
  }
}
