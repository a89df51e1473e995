import { GatewayError } from '../../kit/errors.js';
import type { ChatMessage, ChatRequest, ContentPart, FunctionTool, TextPart, ThinkingBlock, ThinkingConfig, ToolCall } from '../canonical.js';
import type * as A from '../providers/anthropic-wire.js';

/*
 * An Anthropic Messages API request (https://docs.anthropic.com/en/api/messages)
 * validated and translated to the OpenAI chat shape routing works in.
 */

type Json = Record<string, unknown>;

function fail(message: string, param: string): never {
  throw new GatewayError('invalid_request', message, { param });
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalNumber(body: Json, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) fail(`${field}: must be a number between ${min} and ${max}.`, field);
  return value;
}

function cacheControl(block: Json, param: string): { cache_control?: A.CacheControl } {
  const value = block.cache_control;
  if (value === undefined || value === null) return {};
  if (!isRecord(value) || value.type !== 'ephemeral') fail(`${param}.cache_control: type must be "ephemeral".`, `${param}.cache_control`);
  const ttl = typeof value.ttl === 'string' ? { ttl: value.ttl } : {};
  return { cache_control: { type: 'ephemeral', ...ttl } };
}

function textPart(block: Json, param: string): TextPart {
  if (typeof block.text !== 'string') fail(`${param}.text: must be a string.`, `${param}.text`);
  return { type: 'text', text: block.text, ...cacheControl(block, param) };
}

/** Text content (string or text blocks), as in `system` and tool results. */
function textContent(value: unknown, param: string): string | TextPart[] {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) fail(`${param}: must be a string or an array of text blocks.`, param);
  return value.map((block, i) => {
    if (!isRecord(block) || block.type !== 'text') fail(`${param}.${i}: only text blocks are allowed here.`, `${param}.${i}`);
    return textPart(block, `${param}.${i}`);
  });
}

function imagePart(block: Json, param: string): ContentPart {
  const source = block.source;
  if (isRecord(source) && source.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  }
  if (isRecord(source) && source.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  fail(`${param}.source: must be a base64 source (media_type, data) or a url source.`, `${param}.source`);
}

/** PDFs become OpenAI file parts (which the anthropic adapter turns back into documents); plain text documents become text. */
function documentPart(block: Json, param: string): ContentPart {
  const source = block.source;
  if (isRecord(source) && source.type === 'base64' && source.media_type === 'application/pdf' && typeof source.data === 'string') {
    const filename = typeof block.title === 'string' ? { filename: block.title } : {};
    return { type: 'file', file: { ...filename, file_data: `data:application/pdf;base64,${source.data}` } };
  }
  if (isRecord(source) && source.type === 'text' && typeof source.data === 'string') return { type: 'text', text: source.data };
  fail(`${param}.source: only base64 PDF and text documents are supported.`, `${param}.source`);
}

function toolResultMessages(block: Json, param: string): { tool: ChatMessage; images: ContentPart[] } {
  if (typeof block.tool_use_id !== 'string') fail(`${param}.tool_use_id: must be a string.`, `${param}.tool_use_id`);
  const texts: TextPart[] = [];
  const images: ContentPart[] = [];
  const content = block.content ?? '';
  if (typeof content === 'string') texts.push({ type: 'text', text: content });
  else if (Array.isArray(content)) {
    content.forEach((part, i) => {
      const at = `${param}.content.${i}`;
      if (isRecord(part) && part.type === 'text') texts.push(textPart(part, at));
      else if (isRecord(part) && part.type === 'image') images.push(imagePart(part, at));
      else fail(`${at}: tool results may hold text and image blocks only.`, at);
    });
  } else fail(`${param}.content: must be a string or an array of blocks.`, `${param}.content`);
  // OpenAI tool messages have no error flag: say it in the text so the model still sees it.
  if (block.is_error === true) texts.unshift({ type: 'text', text: 'Error: ' });
  const plain = texts.every((t) => !t.cache_control);
  const toolContent = plain ? texts.map((t) => t.text).join('') : texts;
  return { tool: { role: 'tool', tool_call_id: block.tool_use_id, content: toolContent }, images };
}

/** One Anthropic turn as chat messages: a user turn's tool results come first as tool messages (images they hold follow as a user message). */
function turnMessages(turn: unknown, i: number): ChatMessage[] {
  const param = `messages.${i}`;
  if (!isRecord(turn)) fail(`${param}: must be an object.`, param);
  const role = turn.role;
  if (role !== 'user' && role !== 'assistant' && role !== 'system') fail(`${param}.role: must be "user" or "assistant".`, `${param}.role`);
  if (role === 'system') return [{ role: 'system', content: textContent(turn.content, `${param}.content`) }];
  const content = turn.content;
  if (typeof content === 'string') return [{ role, content }];
  if (!Array.isArray(content)) fail(`${param}.content: must be a string or an array of content blocks.`, `${param}.content`);

  const parts: ContentPart[] = [];
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  const tools: ChatMessage[] = [];
  const resultImages: ContentPart[] = [];
  content.forEach((block, j) => {
    const at = `${param}.content.${j}`;
    if (!isRecord(block) || typeof block.type !== 'string') fail(`${at}: must be a content block with a type.`, at);
    switch (block.type) {
      case 'text':
        parts.push(textPart(block, at));
        return;
      case 'thinking':
      case 'redacted_thinking':
        if (role !== 'assistant') fail(`${at}: ${block.type} blocks belong in assistant turns.`, at);
        thinking.push(thinkingBlock(block, at));
        return;
      case 'tool_use':
        if (role !== 'assistant') fail(`${at}: tool_use blocks belong in assistant turns.`, at);
        if (typeof block.id !== 'string' || typeof block.name !== 'string' || !isRecord(block.input)) {
          fail(`${at}: tool_use needs an id, a name and an input object.`, at);
        }
        toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input) } });
        return;
      case 'tool_result': {
        if (role !== 'user') fail(`${at}: tool_result blocks belong in user turns.`, at);
        const { tool, images } = toolResultMessages(block, at);
        tools.push(tool);
        resultImages.push(...images);
        return;
      }
      case 'image':
      case 'document':
        if (role !== 'user') fail(`${at}: ${block.type} blocks belong in user turns.`, at);
        parts.push(block.type === 'image' ? imagePart(block, at) : documentPart(block, at));
        return;
      default:
        fail(`${at}: content blocks of type "${block.type}" are not supported.`, `${at}.type`);
    }
  });

  if (role === 'assistant') {
    const texts = parts as TextPart[];
    const text = texts.every((t) => !t.cache_control) ? texts.map((t) => t.text).join('') : texts;
    return [
      {
        role: 'assistant',
        content: toolCalls.length > 0 && text === '' ? null : text,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        ...(thinking.length > 0 ? { thinking_blocks: thinking } : {}),
      },
    ];
  }
  const userParts = [...resultImages, ...parts];
  return [...tools, ...(userParts.length > 0 ? [{ role: 'user' as const, content: userParts }] : [])];
}

/** A signed thinking block of an earlier turn, kept as it came: Anthropic checks its signature. */
function thinkingBlock(block: Json, param: string): ThinkingBlock {
  if (block.type === 'thinking') {
    if (typeof block.thinking !== 'string' || typeof block.signature !== 'string')
      fail(`${param}: thinking blocks need thinking and signature strings.`, param);
    return { type: 'thinking', thinking: block.thinking, signature: block.signature };
  }
  if (typeof block.data !== 'string') fail(`${param}.data: must be a string.`, `${param}.data`);
  return { type: 'redacted_thinking', data: block.data };
}

/** Anthropic's thinking setting, checked for what routing relies on; the provider judges the rest. */
function thinkingConfig(value: unknown): ThinkingConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) fail('thinking: must be an object.', 'thinking');
  if (value.type === 'adaptive' || value.type === 'disabled') return value as ThinkingConfig;
  if (value.type !== 'enabled') fail('thinking.type: must be "enabled", "adaptive" or "disabled".', 'thinking.type');
  if (typeof value.budget_tokens !== 'number' || !Number.isInteger(value.budget_tokens) || value.budget_tokens < 1)
    fail('thinking.budget_tokens: must be a positive integer.', 'thinking.budget_tokens');
  return value as ThinkingConfig;
}

/** Anthropic-only settings carried to Anthropic providers (docs/routing.md#thinking); output_config's format is response_format. */
function anthropicSettings(body: Json, request: ChatRequest): void {
  const thinking = thinkingConfig(body.thinking);
  if (thinking) request.thinking = thinking;
  if (body.output_config !== undefined && body.output_config !== null && !isRecord(body.output_config))
    fail('output_config: must be an object.', 'output_config');
  const { format, ...output } = body.output_config ?? {};
  if (isRecord(format) && format.type === 'json_schema' && isRecord(format.schema)) {
    request.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
  }
  if (Object.keys(output).length > 0) request.output_config = output;
  if (body.context_management !== undefined && body.context_management !== null) {
    if (!isRecord(body.context_management)) fail('context_management: must be an object.', 'context_management');
    request.context_management = body.context_management;
  }
}

function toolsOf(value: unknown): FunctionTool[] {
  if (!Array.isArray(value)) fail('tools: must be an array.', 'tools');
  return value.map((tool, i) => {
    const at = `tools.${i}`;
    if (!isRecord(tool)) fail(`${at}: must be an object.`, at);
    if (tool.type !== undefined && tool.type !== 'custom')
      fail(`${at}.type: server tools ("${String(tool.type)}") are not supported through the gateway.`, `${at}.type`);
    if (typeof tool.name !== 'string' || !tool.name) fail(`${at}.name: must be a non-empty string.`, `${at}.name`);
    if (!isRecord(tool.input_schema)) fail(`${at}.input_schema: must be a JSON schema object.`, `${at}.input_schema`);
    const description = typeof tool.description === 'string' ? { description: tool.description } : {};
    return { type: 'function', function: { name: tool.name, ...description, parameters: tool.input_schema } };
  });
}

function toolChoiceOf(value: unknown, request: ChatRequest): void {
  if (value === undefined || value === null) return;
  if (!isRecord(value)) fail('tool_choice: must be an object.', 'tool_choice');
  if (value.type === 'auto') request.tool_choice = 'auto';
  else if (value.type === 'any') request.tool_choice = 'required';
  else if (value.type === 'none') request.tool_choice = 'none';
  else if (value.type === 'tool' && typeof value.name === 'string') request.tool_choice = { type: 'function', function: { name: value.name } };
  else fail('tool_choice: type must be auto, any, none, or tool with a name.', 'tool_choice');
  if (value.disable_parallel_tool_use === true) request.parallel_tool_calls = false;
}

/** Validates an Anthropic request body and returns it as a chat request. */
export function toChatRequest(body: unknown): ChatRequest {
  if (!isRecord(body)) fail('The request body must be a JSON object.', 'body');
  if (typeof body.model !== 'string' || !body.model) fail('model: must be a non-empty string.', 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0) fail('messages: must be a non-empty array.', 'messages');
  const maxTokens = body.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1)
    fail('max_tokens: must be a positive integer (it is required).', 'max_tokens');

  const messages: ChatMessage[] = [];
  if (body.system !== undefined && body.system !== null) {
    const system = textContent(body.system, 'system');
    if (system.length > 0) messages.push({ role: 'system', content: system });
  }
  body.messages.forEach((turn, i) => messages.push(...turnMessages(turn, i)));

  // max_tokens rather than max_completion_tokens: every OpenAI-compatible provider knows it.
  const request: ChatRequest = { model: body.model, messages, max_tokens: maxTokens };
  const temperature = optionalNumber(body, 'temperature', 0, 1);
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optionalNumber(body, 'top_p', 0, 1);
  if (topP !== undefined) request.top_p = topP;
  if (body.stop_sequences !== undefined && body.stop_sequences !== null) {
    if (!Array.isArray(body.stop_sequences) || !body.stop_sequences.every((s) => typeof s === 'string'))
      fail('stop_sequences: must be an array of strings.', 'stop_sequences');
    if (body.stop_sequences.length > 0) request.stop = body.stop_sequences as string[];
  }
  if (isRecord(body.metadata) && typeof body.metadata.user_id === 'string') request.user = body.metadata.user_id;
  if (body.tools !== undefined && body.tools !== null) {
    const tools = toolsOf(body.tools);
    if (tools.length > 0) request.tools = tools;
  }
  toolChoiceOf(body.tool_choice, request);
  anthropicSettings(body, request);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') fail('stream: must be a boolean.', 'stream');
  // Usage is needed for message_delta, so it is always asked for on streams.
  if (body.stream === true) Object.assign(request, { stream: true, stream_options: { include_usage: true } });
  return request;
}
