import type { ChatMessage, ChatRequest, ChatResponse, ContentPart, FunctionTool, ResponseFormat, ToolChoice } from '../canonical.js';
import { streamErrorEvent } from '../../kit/api-errors.js';
import { invalid, optionalBoolean, requireModel, requireObject } from './chat.js';
import { newId, responseObject, type ResponseShell } from './responses-object.js';
import { responsesStream } from './responses-stream.js';
import type { InboundFormat } from './types.js';

/**
 * The OpenAI Responses API (https://platform.openai.com/docs/api-reference/responses)
 * served on top of chat completions, so it works with every provider. The
 * gateway keeps no conversation state: previous_response_id and OpenAI's
 * built-in tools are refused with a clear error.
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

function messagesOf(input: unknown, instructions: unknown): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (typeof instructions === 'string' && instructions) messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') return [...messages, { role: 'user', content: input }];
  if (!Array.isArray(input)) throw invalid("Invalid 'input': expected a string or an array of input items.", 'input');
  input.forEach((item: Item, i) => {
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer')
        throw invalid(`Invalid 'input[${i}].role'.`, `input[${i}].role`);
      const content = inputContent(item.content, `input[${i}].content`);
      if (role === 'assistant')
        messages.push({ role, content: typeof content === 'string' ? content : content.map((p) => ('text' in p ? String(p.text) : '')).join('') });
      else if (role === 'user') messages.push({ role, content });
      else messages.push({ role, content: typeof content === 'string' ? content : content.map((p) => ('text' in p ? String(p.text) : '')).join('') });
    } else if (type === 'function_call') {
      const call = { id: String(item.call_id), type: 'function' as const, function: { name: String(item.name), arguments: String(item.arguments ?? '') } };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && last.tool_calls) last.tool_calls.push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: String(item.call_id), content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output) });
    } else if (type !== 'reasoning') {
      throw invalid(`Invalid 'input[${i}].type': ${String(type)} is not supported by the gateway.`, `input[${i}].type`);
    }
  });
  return messages;
}

function toolsOf(tools: unknown): FunctionTool[] | undefined {
  if (tools === undefined) return undefined;
  if (!Array.isArray(tools)) throw invalid("Invalid 'tools': expected an array.", 'tools');
  return tools.map((tool: Item, i) => {
    if (tool.type !== 'function')
      throw invalid(`Invalid 'tools[${i}]': only function tools are supported by the gateway (not ${String(tool.type)}).`, `tools[${i}].type`);
    return {
      type: 'function',
      function: {
        name: String(tool.name),
        description: tool.description as string | undefined,
        parameters: tool.parameters as Record<string, unknown> | undefined,
        strict: tool.strict as boolean | undefined,
      },
    };
  });
}

function toolChoiceOf(choice: unknown): ToolChoice | undefined {
  if (choice === undefined || choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const named = choice as Item;
  if (named?.type === 'function' && typeof named.name === 'string') return { type: 'function', function: { name: named.name } };
  throw invalid("Invalid 'tool_choice'.", 'tool_choice');
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

function outputOf(result: ChatResponse): unknown[] {
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
  for (const call of message?.tool_calls ?? []) {
    output.push({
      type: 'function_call',
      id: newId('fc'),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: 'completed',
    });
  }
  return output;
}

export const responsesFormat: InboundFormat = {
  endpoint: 'responses',
  parse(body) {
    const request = requireObject(body);
    const model = requireModel(request);
    optionalBoolean(request, 'stream');
    if (request.previous_response_id)
      throw invalid(
        'previous_response_id is not supported: the gateway keeps no conversation state; send the whole conversation in input.',
        'previous_response_id',
      );
    if (request.input === undefined) throw invalid("Missing required parameter: 'input'.", 'input');
    const chat: ChatRequest = {
      model,
      messages: messagesOf(request.input, request.instructions),
      tools: toolsOf(request.tools),
      tool_choice: toolChoiceOf(request.tool_choice),
      parallel_tool_calls: request.parallel_tool_calls as boolean | undefined,
      response_format: responseFormatOf(request.text),
      temperature: request.temperature as number | undefined,
      top_p: request.top_p as number | undefined,
      max_tokens: request.max_output_tokens as number | undefined,
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
      metadata: request.metadata ?? {},
    };
    return {
      chat,
      response: (result) =>
        responseObject(
          { ...shell, model: result.model },
          result.choices[0]?.finish_reason === 'length' ? 'incomplete' : 'completed',
          outputOf(result),
          result.usage,
        ),
      stream: (chunks) => responsesStream(shell, chunks),
    };
  },
  errorEvent: (error) => streamErrorEvent('responses', error),
};
