import type { ChatChunk, OpenAIUsage } from '../canonical.js';
import { newId, responseObject, type ResponseShell } from './responses-object.js';
import type { ResponsesTools } from './responses-tools.js';
import type { OutEvent } from './types.js';

/** A call's item as output_item.added announces it, before its arguments are known. */
function startedItem(call: CallItem, tools: ResponsesTools): Record<string, unknown> {
  if (call.tool === 'local_shell') return { type: 'local_shell_call', id: call.id, call_id: call.callId, action: { type: 'exec', command: [], env: {} } };
  return tools.outputItem({ itemId: call.id, callId: call.callId, name: call.name, arguments: '' });
}

interface TextItem {
  kind: 'text';
  id: string;
  outputIndex: number;
  text: string;
}

interface CallItem {
  kind: 'call';
  id: string;
  outputIndex: number;
  callId: string;
  name: string;
  arguments: string;
  /** The item type the client offered the tool as: only function calls stream their arguments as they come. */
  tool: 'function' | 'custom' | 'local_shell';
}

/**
 * Turns chat chunks into the Responses API's streaming events
 * (https://platform.openai.com/docs/api-reference/responses-streaming):
 * response.created, response.in_progress, then per output item
 * output_item.added → deltas → done, then response.completed.
 */
export async function* responsesStream(shell: ResponseShell, chunks: AsyncIterable<ChatChunk>, tools: ResponsesTools): AsyncGenerator<OutEvent> {
  let sequence = 0;
  // Once the provider's stream ended, every event completes the answer (see OutEvent.final).
  let closing = false;
  const event = (type: string, fields: Record<string, unknown>): OutEvent => ({
    event: type,
    data: JSON.stringify({ type, sequence_number: sequence++, ...fields }),
    final: closing,
  });
  const items: (TextItem | CallItem)[] = [];
  const calls = new Map<number, CallItem>();
  let text: TextItem | undefined;
  let usage: OpenAIUsage | null | undefined;
  let finish: string | null = null;
  let model = shell.model;

  yield event('response.created', { response: responseObject(shell, 'in_progress', [], null) });
  yield event('response.in_progress', { response: responseObject(shell, 'in_progress', [], null) });

  for await (const chunk of chunks) {
    model = chunk.model || model;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices.find((c) => c.index === 0);
    if (!choice) continue;
    if (choice.finish_reason) finish = choice.finish_reason;
    const delta = choice.delta;
    if (delta.content) {
      if (!text) {
        text = { kind: 'text', id: newId('msg'), outputIndex: items.length, text: '' };
        items.push(text);
        yield event('response.output_item.added', {
          output_index: text.outputIndex,
          item: { type: 'message', id: text.id, status: 'in_progress', role: 'assistant', content: [] },
        });
        yield event('response.content_part.added', {
          item_id: text.id,
          output_index: text.outputIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        });
      }
      text.text += delta.content;
      yield event('response.output_text.delta', { item_id: text.id, output_index: text.outputIndex, content_index: 0, delta: delta.content, logprobs: [] });
    }
    for (const toolDelta of delta.tool_calls ?? []) {
      let call = calls.get(toolDelta.index);
      if (!call) {
        const name = toolDelta.function?.name ?? '';
        call = {
          kind: 'call',
          id: newId('fc'),
          outputIndex: items.length,
          callId: toolDelta.id ?? newId('call'),
          name,
          arguments: '',
          tool: tools.kindOf(name),
        };
        calls.set(toolDelta.index, call);
        items.push(call);
        yield event('response.output_item.added', { output_index: call.outputIndex, item: { ...startedItem(call, tools), status: 'in_progress' } });
      }
      const fragment = toolDelta.function?.arguments ?? '';
      if (fragment) {
        call.arguments += fragment;
        if (call.tool === 'function')
          yield event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: fragment });
      }
    }
  }

  closing = true;
  const output: unknown[] = [];
  for (const item of items) {
    if (item.kind === 'text') {
      const part = { type: 'output_text', text: item.text, annotations: [], logprobs: [] };
      yield event('response.output_text.done', { item_id: item.id, output_index: item.outputIndex, content_index: 0, text: item.text, logprobs: [] });
      yield event('response.content_part.done', { item_id: item.id, output_index: item.outputIndex, content_index: 0, part });
      const done = { type: 'message', id: item.id, status: 'completed', role: 'assistant', content: [part] };
      yield event('response.output_item.done', { output_index: item.outputIndex, item: done });
      output.push(done);
    } else {
      const done = tools.outputItem({ itemId: item.id, callId: item.callId, name: item.name, arguments: item.arguments });
      if (done.type === 'function_call')
        yield event('response.function_call_arguments.done', { item_id: item.id, output_index: item.outputIndex, arguments: item.arguments });
      else if (done.type === 'custom_tool_call') {
        // The input arrives wrapped in the function's JSON arguments, so it is told once, whole, when the call ends.
        yield event('response.custom_tool_call_input.delta', { item_id: item.id, output_index: item.outputIndex, delta: done.input });
        yield event('response.custom_tool_call_input.done', { item_id: item.id, output_index: item.outputIndex, input: done.input });
      }
      yield event('response.output_item.done', { output_index: item.outputIndex, item: done });
      output.push(done);
    }
  }
  const status = finish === 'length' ? 'incomplete' : 'completed';
  yield event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject({ ...shell, model }, status, output, usage) });
}
