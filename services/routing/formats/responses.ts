import type { ChatMessage, ChatRequest, ChatResponse, ContentPart, ResponseFormat } from '../canonical.js';
import { streamErrorEvent } from '../../kit/api-errors.js';
import { invalid, optionalBoolean, requireModel, requireObject } from './chat.js';
import { newId, responseObject, type ResponseShell } from './responses-object.js';
import { responsesStream } from './responses-stream.js';
import { itemsOf } from './responses-items.js';
import { inputCall, outputText, ResponsesTools } from './responses-tools.js';
import type { InboundFormat } from './types.js';

/**
 * The OpenAI Responses API (https://platform.openai.com/docs/api-reference/responses)
 * served on top of chat completions, so it works with every provider. Its
 * tools are translated in responses-tools.ts; stored responses and
 * previous_response_id are resolved before this (routing/responses-state.ts),
 * which hands it the whole conversation and `store` as honoured.
 */

type Item = Record<string, unknown>;

function inputContent(content: unknown, param: string): string | ContentPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(`Invalid '${param}': expected a string or an array of content parts.`, param);
  return content.map((part: Item, i) => {
    switch (part.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'text' as const, text: String(part.text ?? '') };
      case 'input_image':
        if (typeof part.image_url !== 'string') throw invalid(`Invalid '${param}[${i}]': only image_url images are supported.`, `${param}[${i}]`);
        return { type: 'image_url' as const, image_url: { url: part.image_url, detail: (part.detail as 'auto' | 'low' | 'high' | undefined) ?? 'auto' } };
      default:
        throw invalid(`Invalid '${param}[${i}].type': ${String(part.type)} is not supported.`, `${param}[${i}].type`);
    }
  });
}

const CALLS = new Set(['function_call', 'custom_tool_call', 'local_shell_call']);
const OUTPUTS = new Set(['function_call_output', 'custom_tool_call_output', 'local_shell_call_output']);

function messagesOf(input: unknown, instructions: unknown): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (typeof instructions === 'string' && instructions) messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') return [...messages, { role: 'user', content: input }];
  if (!Array.isArray(input)) throw invalid("Invalid 'input': expected a string or an array of input items.", 'input');
  input.forEach((item: Item, i) => {
    const type = String(item.type ?? 'message');
    if (type === 'message') {
      const role = item.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer')
        throw invalid(`Invalid 'input[${i}].role'.`, `input[${i}].role`);
      const content = inputContent(item.content, `input[${i}].content`);
      if (role === 'user') messages.push({ role, content });
      else messages.push({ role, content: typeof content === 'string' ? content : content.map((p) => ('text' in p ? String(p.text) : '')).join('') });
    } else if (CALLS.has(type)) {
      const call = inputCall(item, i);
      const last = messages.at(-1);
      if (last?.role === 'assistant' && last.tool_calls) last.tool_calls.push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (OUTPUTS.has(type)) {
      messages.push({ role: 'tool', tool_call_id: String(item.call_id ?? item.id), content: outputText(item.output) });
    } else if (type !== 'reasoning' && type !== 'web_search_call' && type !== 'image_generation_call') {
      // Reasoning items (OpenAI's encrypted chain of thought) mean nothing to another provider's model, and a web search
      // or image OpenAI made (a conversation continued from a natively served response) is told by the message after it: left out.
      throw invalid(`Invalid 'input[${i}].type': ${type} is not supported by the gateway.`, `input[${i}].type`);
    }
  });
  return messages;
}

function responseFormatOf(text: unknown): ResponseFormat | undefined {
  const format = (text as { format?: Item } | undefined)?.format;
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    return {
      type: 'json_schema',
      json_schema: {
        name: String(format.name ?? 'response'),
        description: format.description as string | undefined,
        schema: format.schema as Record<string, unknown>,
        strict: format.strict as boolean | undefined,
      },
    };
  }
  throw invalid("Invalid 'text.format.type'.", 'text.format.type');
}

/**
 * `reasoning.effort` goes to the provider as chat's `reasoning_effort` (the provider refuses a value or a model it
 * does not take, as on /v1/chat/completions). A summary has no chat equivalent: none is written, so none is echoed.
 */
function reasoningEffortOf(reasoning: unknown): string | undefined {
  if (reasoning === undefined || reasoning === null) return undefined;
  const effort = (reasoning as Item).effort;
  if (effort === undefined || effort === null) return undefined;
  if (typeof effort !== 'string') throw invalid("Invalid type for 'reasoning.effort': expected a string.", 'reasoning.effort');
  return effort;
}

function outputOf(result: ChatResponse, tools: ResponsesTools): unknown[] {
  const message = result.choices[0]?.message;
  const output: unknown[] = [];
  if (message?.content) {
    output.push({
      type: 'message',
      id: newId('msg'),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: message.content, annotations: [], logprobs: [] }],
    });
  }
  for (const call of message?.tool_calls ?? [])
    output.push(tools.outputItem({ itemId: newId('fc'), callId: call.id, name: call.function.name, arguments: call.function.arguments }));
  return output;
}

export const responsesFormat: InboundFormat = {
  endpoint: 'responses',
  parse(body) {
    const request = requireObject(body);
    const model = requireModel(request);
    optionalBoolean(request, 'stream');
    if (request.input === undefined) throw invalid("Missing required parameter: 'input'.", 'input');
    const tools = new ResponsesTools(request.tools);
    const effort = reasoningEffortOf(request.reasoning);
    const chat: ChatRequest = {
      model,
      messages: messagesOf(request.input, request.instructions),
      tools: tools.chat,
      tool_choice: tools.toolChoice(request.tool_choice),
      parallel_tool_calls: request.parallel_tool_calls as boolean | undefined,
      response_format: responseFormatOf(request.text),
      temperature: request.temperature as number | undefined,
      top_p: request.top_p as number | undefined,
      max_tokens: request.max_output_tokens as number | undefined,
      reasoning_effort: effort,
      user: request.user as string | undefined,
      stream: request.stream === true,
    };
    const shell: ResponseShell = {
      id: newId('resp'),
      created_at: Math.floor(Date.now() / 1000),
      model,
      instructions: typeof request.instructions === 'string' ? request.instructions : null,
      max_output_tokens: (request.max_output_tokens as number | undefined) ?? null,
      temperature: (request.temperature as number | undefined) ?? null,
      top_p: (request.top_p as number | undefined) ?? null,
      tools: (request.tools as unknown[] | undefined) ?? [],
      tool_choice: request.tool_choice ?? 'auto',
      parallel_tool_calls: (request.parallel_tool_calls as boolean | undefined) ?? true,
      text: request.text ?? { format: { type: 'text' } },
      reasoning: { effort: effort ?? null, summary: null },
      metadata: request.metadata ?? {},
      previous_response_id: (request.previous_response_id as string | undefined) ?? null,
      store: request.store === true,
    };
    const instructed = typeof request.instructions === 'string' && request.instructions !== '';
    return {
      chat,
      response: (result) =>
        responseObject(
          { ...shell, model: result.model },
          result.choices[0]?.finish_reason === 'length' ? 'incomplete' : 'completed',
          outputOf(result, tools),
          result.usage,
        ),
      stream: (chunks) => responsesStream(shell, chunks, tools),
      // Instructions are not part of the conversation: a response continued from this one gives its own.
      conversation: (messages) => itemsOf(instructed ? messages.slice(1) : messages, tools),
    };
  },
  errorEvent: (error) => streamErrorEvent('responses', error),
};
