import type { ChatChunk, OpenAIUsage } from '../canonical.js';
import { newId, responseObject, type ResponseShell } from './responses-object.js';
import type { OutEvent } from './types.js';

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
}

/**
 * Turns chat chunks into the Responses API's streaming events
 * (https://platform.openai.com/docs/api-reference/responses-streaming):
 * response.created, response.in_progress, then per output item
 * output_item.added → deltas → done, then response.completed.
 */
export async function* responsesStream(shell: ResponseShell, chunks: AsyncIterable<ChatChunk>): AsyncGenerator<OutEvent> {
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
        call = {
          kind: 'call',
          id: newId('fc'),
          outputIndex: items.length,
          callId: toolDelta.id ?? newId('call'),
          name: toolDelta.function?.name ?? '',
          arguments: '',
        };
        calls.set(toolDelta.index, call);
        items.push(call);
        yield event('response.output_item.added', {
          output_index: call.outputIndex,
          item: { type: 'function_call', id: call.id, call_id: call.callId, name: call.name, arguments: '', status: 'in_progress' },
        });
      }
      const fragment = toolDelta.function?.arguments ?? '';
      if (fragment) {
        call.arguments += fragment;
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
      yield event('response.function_call_arguments.done', { item_id: item.id, output_index: item.outputIndex, arguments: item.arguments });
      const done = { type: 'function_call', id: item.id, call_id: item.callId, name: item.name, arguments: item.arguments, status: 'completed' };
      yield event('response.output_item.done', { output_index: item.outputIndex, item: done });
      output.push(done);
    }
  }
  const status = finish === 'length' ? 'incomplete' : 'completed';
  yield event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject({ ...shell, model }, status, output, usage) });
}
