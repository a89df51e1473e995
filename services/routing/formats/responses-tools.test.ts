import { describe, expect, it } from 'vitest';
import { flatName, inputCall, ResponsesTools } from './responses-tools.js';

const names = (tools: ResponsesTools) => tools.chat?.map((tool) => tool.function.name);

describe("the Responses API's tools as chat functions", () => {
  it('names namespace members so that they round-trip, within the 64 characters providers take', () => {
    expect(flatName('create_issue', 'mcp__github__')).toBe('mcp__github__create_issue');
    expect(flatName('search', 'crm')).toBe('crm__search');
    const long = flatName('a_tool_with_a_rather_long_name_indeed', 'mcp__a_server_with_a_long_name_too__');
    expect(long).toHaveLength(64);
    expect(long).not.toBe(flatName('a_tool_with_a_rather_long_name_indeed_2', 'mcp__a_server_with_a_long_name_too__'));

    const tools = new ResponsesTools([
      { type: 'namespace', name: 'mcp__a_server_with_a_long_name_too__', tools: [{ type: 'function', name: 'a_tool_with_a_rather_long_name_indeed' }] },
    ]);
    expect(names(tools)).toEqual([long]);
    expect(tools.outputItem({ itemId: 'fc_1', callId: 'call_1', name: long, arguments: '{}' })).toMatchObject({
      type: 'function_call',
      name: 'a_tool_with_a_rather_long_name_indeed',
      namespace: 'mcp__a_server_with_a_long_name_too__',
    });
  });

  it('refuses two tools that would reach the model under one name, and a namespace inside a namespace', () => {
    expect(
      () =>
        new ResponsesTools([
          { type: 'function', name: 'crm__search' },
          { type: 'namespace', name: 'crm', tools: [{ type: 'function', name: 'search' }] },
        ]),
    ).toThrow(/tools\[1\]\.tools\[0\]': a tool named crm__search is offered twice/);
    expect(() => new ResponsesTools([{ type: 'namespace', name: 'a', tools: [{ type: 'namespace', name: 'b', tools: [] }] }])).toThrow(
      /the tool type namespace is not supported inside a namespace/,
    );
  });

  it('maps tool_choice to the function the tool is offered as', () => {
    const tools = new ResponsesTools([{ type: 'custom', name: 'apply_patch' }, { type: 'local_shell' }]);
    expect(tools.toolChoice({ type: 'custom', name: 'apply_patch' })).toEqual({ type: 'function', function: { name: 'apply_patch' } });
    expect(tools.toolChoice({ type: 'function', name: 'create_issue', namespace: 'mcp__gh__' })).toEqual({
      type: 'function',
      function: { name: 'mcp__gh__create_issue' },
    });
    expect(tools.toolChoice({ type: 'allowed_tools', mode: 'required', tools: [] })).toBe('required');
    expect(() => tools.toolChoice({ type: 'web_search_preview' })).toThrow(/web_search_preview is not a tool/);
  });

  it('takes a custom call answered as bare text, and a shell call without a command, for what they are', () => {
    const tools = new ResponsesTools([{ type: 'custom', name: 'apply_patch' }, { type: 'local_shell' }]);
    expect(tools.outputItem({ itemId: 'c', callId: 'k', name: 'apply_patch', arguments: '*** Begin Patch' })).toMatchObject({
      type: 'custom_tool_call',
      input: '*** Begin Patch',
    });
    expect(tools.outputItem({ itemId: 'c', callId: 'k', name: 'local_shell', arguments: '{"cmd":"ls"}' })).toMatchObject({
      type: 'function_call',
      name: 'local_shell',
      arguments: '{"cmd":"ls"}',
    });
  });

  it('reads the call items of the input back as the calls the model made', () => {
    const shell = {
      type: 'local_shell_call',
      id: 'lsh_1',
      call_id: 'call_9',
      status: 'completed',
      action: { type: 'exec', command: ['ls'], env: {}, working_directory: '/w' },
    };
    expect(inputCall(shell, 0).function).toEqual({ name: 'local_shell', arguments: '{"command":["ls"],"workdir":"/w"}' });
    expect(inputCall({ type: 'custom_tool_call', call_id: 'c', name: 'apply_patch', input: 'x' }, 0)).toEqual({
      id: 'c',
      type: 'function',
      function: { name: 'apply_patch', arguments: '{"input":"x"}' },
    });
    expect(() => inputCall({ type: 'local_shell_call', call_id: 'c', action: {} }, 3)).toThrow(/input\[3\]\.action\.command/);
  });
});
