import type { ChatMessage, ImagePart } from '../canonical.js';
import { newId } from './responses-object.js';
import type { ResponsesTools } from './responses-tools.js';

type Item = Record<string, unknown>;

const OUTPUT_OF: Record<string, string> = {
  function_call: 'function_call_output',
  custom_tool_call: 'custom_tool_call_output',
  local_shell_call: 'local_shell_call_output',
};

const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((part: Item) => String(part.text ?? '')).join('') : '';

/**
 * A chat conversation back as Responses input items, each with an id: what a
 * stored response keeps of its input, taken from the messages the provider
 * was sent (so with the guardrails' redactions made), calls as the type of
 * tool the client offered, each output as its call's type.
 */
export function itemsOf(messages: ChatMessage[], tools: ResponsesTools): Item[] {
  const callTypes = new Map<string, string>();
  const items: Item[] = [];
  for (const message of messages) {
    if (message.role === 'tool') {
      const type = OUTPUT_OF[callTypes.get(message.tool_call_id) ?? 'function_call']!;
      const output = textOf(message.content);
      // local_shell_call_output names its call by `id` (OpenAI's shape), the others by call_id.
      items.push(
        type === 'local_shell_call_output' ? { type, id: message.tool_call_id, output } : { type, id: newId('fco'), call_id: message.tool_call_id, output },
      );
    } else if (message.role === 'assistant') {
      const text = textOf(message.content);
      if (text)
        items.push({ type: 'message', id: newId('msg'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] });
      for (const call of message.tool_calls ?? []) {
        const item = tools.outputItem({ itemId: newId('fc'), callId: call.id, name: call.function.name, arguments: call.function.arguments });
        callTypes.set(call.id, String(item.type));
        items.push(item);
      }
    } else if (message.role === 'user' && Array.isArray(message.content)) {
      const content = message.content.map((part) => {
        if (part.type !== 'image_url') return { type: 'input_text', text: String((part as { text?: unknown }).text ?? '') };
        const image = part.image_url as ImagePart['image_url'];
        return { type: 'input_image', image_url: image.url, detail: image.detail ?? 'auto' };
      });
      items.push({ type: 'message', id: newId('msg'), role: 'user', content });
    } else {
      items.push({ type: 'message', id: newId('msg'), role: message.role, content: [{ type: 'input_text', text: textOf(message.content) }] });
    }
  }
  return items;
}
