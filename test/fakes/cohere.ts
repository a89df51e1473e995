import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';
import { wordVector } from './vectors.js';
import { cohereRerank } from './rerank.js';

/**
 * A local stand-in for Cohere's API v2, built from its reference
 * (https://docs.cohere.com/v2/reference/chat, /chat-stream, /embed, /errors):
 * POST /v2/chat answers with a chat response or, with `stream: true`, with
 * server-sent events (`event: <type>` and JSON data carrying the same `type`:
 * message-start, content-start/-delta/-end, tool-plan-delta,
 * tool-call-start/-delta/-end, message-end), ended by `data: [DONE]`;
 * POST /v2/embed answers embeddings by type, POST /v2/rerank ranks documents (rerank.ts); errors are `{"id", "message"}`.
 * Like the real API it refuses fields it does not know, so an adapter that
 * forwards OpenAI field names (top_p, stop, n…) fails here too.
 * cohere.test.ts checks it with the official `cohere-ai` SDK.
 *
 * The reply is `Fake Cohere reply to: <last user text>`. When tools are given,
 * the last message is the user's and it mentions "weather" (or tool_choice is
 * REQUIRED), the model calls the first tool with {"city":"Paris"} after a tool plan.
 * Usage gives billed_units (the user's words and the reply), raw tokens (with
 * Cohere's own prompt template) and cached_tokens: the raw input of a
 * conversation seen before is read from the cache. A model whose name contains
 * "reasoning" thinks first: a thinking content item, whose THINKING_TOKENS are
 * in the output counts, as Cohere counts them.
 * Models whose name starts with a trigger misbehave on purpose:
 *   fail-<status>   answers with that HTTP status and a Cohere error body
 *   too-long        400 "too many tokens: … exceeds the model's context length"
 *   stall           never answers (for timeouts)
 *   break-stream    sends a few events, then drops the connection
 */
export interface FakeCohere {
  readonly url: string;
  /** Every request received on a known path, with its Authorization header. */
  readonly requests: { path: string; body: Record<string, unknown>; authorization: string | undefined }[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

export const THINKING_TOKENS = 16;
/** Conversations remembered for cached_tokens: enough for any test, bounded for a long run. */
const REMEMBERED = 200;

class Invalid extends Error {}

const ERROR_MESSAGES: Record<number, string> = {
  400: 'invalid request: temperature must be between 0 and 1.',
  401: 'invalid api token',
  402: 'Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue',
  404: "model 'fail-404' not found, make sure the correct model ID was used and that you have access to the model.",
  429: 'You are using a Trial key, which is limited to 20 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at https://dashboard.cohere.com/api-keys.',
  498: 'invalid token',
  499: 'request cancelled',
  500: 'internal server error, this has been reported to our developers',
  503: 'service unavailable',
};

const CHAT_FIELDS = new Set([
  'model',
  'messages',
  'stream',
  'tools',
  'strict_tools',
  'documents',
  'citation_options',
  'response_format',
  'safety_mode',
  'max_tokens',
  'stop_sequences',
  'temperature',
  'seed',
  'frequency_penalty',
  'presence_penalty',
  'k',
  'p',
  'logprobs',
  'tool_choice',
  'thinking',
  'priority',
]);
const EMBED_FIELDS = new Set(['model', 'texts', 'images', 'inputs', 'input_type', 'max_tokens', 'output_dimension', 'embedding_types', 'truncate', 'priority']);
const MESSAGE_FIELDS: Record<string, Set<string>> = {
  system: new Set(['role', 'content']),
  user: new Set(['role', 'content']),
  assistant: new Set(['role', 'content', 'tool_calls', 'tool_plan', 'citations']),
  tool: new Set(['role', 'content', 'tool_call_id']),
};

export async function startFakeCohere(options: { apiKey: string }): Promise<FakeCohere> {
  const requests: FakeCohere['requests'] = [];
  const seen = new Set<string>();
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) return sendError(res, 401, ERROR_MESSAGES[401]!);
    if (req.method !== 'POST' || !['/v2/chat', '/v2/embed', '/v2/rerank'].includes(path)) return sendError(res, 404, '404 page not found');
    let body: Json;
    try {
      body = JSON.parse(raw.toString('utf8')) as Json;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
    } catch {
      return sendError(res, 400, 'invalid request: the request body is not a valid JSON object.');
    }
    requests.push({ path, body, authorization: req.headers.authorization });
    const model = typeof body.model === 'string' ? body.model : '';
    const failure = /^fail-(\d{3})/.exec(model);
    if (failure) {
      const status = Number(failure[1]);
      if (status === 429) res.setHeader('retry-after', '1');
      return sendError(res, status, ERROR_MESSAGES[status] ?? ERROR_MESSAGES[500]!);
    }
    if (model.startsWith('too-long')) {
      return sendError(
        res,
        400,
        "too many tokens: total number of tokens in the prompt (200000) exceeds the model's context length of 128000. Try using a shorter prompt.",
      );
    }
    if (model.startsWith('stall')) return; // never answers
    try {
      if (path === '/v2/embed') return writeJson(res, 200, embed(body));
      if (path === '/v2/rerank') {
        const answer = cohereRerank(body);
        return answer.message ? sendError(res, answer.status, answer.message) : writeJson(res, answer.status, answer.body);
      }
      validateChat(body);
    } catch (err) {
      if (err instanceof Invalid) return sendError(res, 400, err.message);
      throw err;
    }
    const r = reply(body, seen);
    if (body.stream === true) return stream(res, body, r, model);
    return writeJson(res, 200, chatResponse(body, r));
  }

  const { url, close } = await listenLocally(server);
  return { url, requests, close };
}

// ---- validation, as strict as the real API on the fields adapters write ----

function fail(message: string): never {
  throw new Invalid(`invalid request: ${message}`);
}

function checkFields(object: Json, known: Set<string>, where = ''): void {
  for (const key of Object.keys(object)) if (!known.has(key)) fail(`unknown field: parameter '${where}${key}' is not a valid field`);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkContent(content: unknown, where: string, parts: string[], optional = false): void {
  if (content === undefined && optional) return;
  if (typeof content === 'string') return;
  if (!Array.isArray(content)) fail(`${where}.content must be a string or a list of content items`);
  for (const item of content) {
    if (!isObject(item) || typeof item.type !== 'string' || !parts.includes(item.type)) fail(`${where}.content items must have type ${parts.join(' or ')}`);
    if (item.type === 'text' && typeof item.text !== 'string') fail(`${where}.content text items need text`);
    if (item.type === 'image_url' && (!isObject(item.image_url) || typeof item.image_url.url !== 'string'))
      fail(`${where}.content image_url items need image_url.url`);
  }
}

function validateChat(body: Json): void {
  checkFields(body, CHAT_FIELDS);
  if (typeof body.model !== 'string' || body.model === '') fail('model is required');
  if (!Array.isArray(body.messages) || body.messages.length === 0) fail('messages must be a non-empty list');
  if (body.stream !== undefined && typeof body.stream !== 'boolean') fail('stream must be a boolean');
  const callIds = new Set<string>();
  body.messages.forEach((message: unknown, index: number) => {
    const where = `messages[${index}]`;
    if (!isObject(message) || typeof message.role !== 'string' || !MESSAGE_FIELDS[message.role])
      fail(`${where}.role must be one of system, user, assistant, tool`);
    checkFields(message, MESSAGE_FIELDS[message.role]!, `${where}.`);
    if (message.role === 'user') checkContent(message.content, where, ['text', 'image_url']);
    if (message.role === 'system') checkContent(message.content, where, ['text']);
    if (message.role === 'tool') {
      checkContent(message.content, where, ['text', 'document']);
      if (typeof message.tool_call_id !== 'string' || !callIds.has(message.tool_call_id))
        fail(`${where}.tool_call_id must match a tool call of an earlier assistant message`);
    }
    if (message.role === 'assistant') {
      checkContent(message.content, where, ['text'], true);
      if (message.tool_plan !== undefined && typeof message.tool_plan !== 'string') fail(`${where}.tool_plan must be a string`);
      if (message.tool_calls !== undefined) {
        if (!Array.isArray(message.tool_calls)) fail(`${where}.tool_calls must be a list`);
        for (const call of message.tool_calls as unknown[]) {
          const fn = isObject(call) ? call.function : undefined;
          if (
            !isObject(call) ||
            typeof call.id !== 'string' ||
            call.type !== 'function' ||
            !isObject(fn) ||
            typeof fn.name !== 'string' ||
            typeof fn.arguments !== 'string'
          ) {
            fail(`${where}.tool_calls items need id, type "function" and function.name/arguments strings`);
          }
          callIds.add(call.id);
        }
      }
    }
  });
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) fail('tools must be a list');
    for (const tool of body.tools as unknown[]) {
      const fn = isObject(tool) ? tool.function : undefined;
      if (!isObject(tool) || tool.type !== 'function' || !isObject(fn) || typeof fn.name !== 'string' || !isObject(fn.parameters)) {
        fail('tools items need type "function", function.name and function.parameters');
      }
      checkFields(fn, new Set(['name', 'description', 'parameters']), 'tools.function.');
    }
  }
  if (body.tool_choice !== undefined && body.tool_choice !== 'REQUIRED' && body.tool_choice !== 'NONE') fail('tool_choice must be REQUIRED or NONE');
  if (body.response_format !== undefined) {
    const format = body.response_format;
    if (!isObject(format) || (format.type !== 'text' && format.type !== 'json_object')) fail('response_format.type must be text or json_object');
  }
  if (body.stop_sequences !== undefined && (!Array.isArray(body.stop_sequences) || body.stop_sequences.length > 5))
    fail('stop_sequences must be a list of up to 5 strings');
  for (const key of ['temperature', 'p', 'k', 'max_tokens', 'seed', 'frequency_penalty', 'presence_penalty']) {
    if (body[key] !== undefined && typeof body[key] !== 'number') fail(`${key} must be a number`);
  }
  if (typeof body.p === 'number' && (body.p < 0.01 || body.p > 0.99)) fail('p must be between 0.01 and 0.99');
  for (const key of ['frequency_penalty', 'presence_penalty']) {
    const value = body[key];
    if (typeof value === 'number' && (value < 0 || value > 1)) fail(`${key} must be between 0 and 1`);
  }
}

// ---- answers ----

interface Reply {
  id: string;
  thinking?: string;
  pieces: string[];
  finish: 'COMPLETE' | 'STOP_SEQUENCE' | 'MAX_TOKENS' | 'TOOL_CALL';
  tool?: { id: string; name: string; plan: string; arguments: string };
  usage: { billed_units: { input_tokens: number; output_tokens: number }; tokens: { input_tokens: number; output_tokens: number }; cached_tokens: number };
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((item) => (isObject(item) && item.type === 'text' && typeof item.text === 'string' ? item.text : '')).join('');
}

function reply(body: Json, seen: Set<string>): Reply {
  const messages = body.messages as Json[];
  const lastUser = textOf([...messages].reverse().find((m) => m.role === 'user')?.content);
  const inputWords = messages.reduce((sum, m) => sum + (textOf(m.content).match(/\S+/g)?.length ?? 0), 0);
  const tools = Array.isArray(body.tools) ? (body.tools as { function: { name: string } }[]) : [];
  const callTool =
    tools.length > 0 && body.tool_choice !== 'NONE' && messages.at(-1)?.role === 'user' && (/weather/i.test(lastUser) || body.tool_choice === 'REQUIRED');
  let pieces: string[];
  let finish: Reply['finish'] = 'COMPLETE';
  let tool: Reply['tool'];
  if (callTool) {
    const name = tools[0]!.function.name;
    tool = { id: `${name}_${randomUUID().slice(0, 12).replace(/-/g, '')}`, name, plan: 'I will look up the weather in Paris.', arguments: '{"city":"Paris"}' };
    pieces = [];
    finish = 'TOOL_CALL';
  } else {
    let text = `Fake Cohere reply to: ${lastUser}`;
    for (const stop of Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : []) {
      const at = text.indexOf(stop);
      if (at >= 0) {
        text = text.slice(0, at);
        finish = 'STOP_SEQUENCE';
      }
    }
    pieces = text.split(/(?<= )/).filter((piece) => piece !== '');
    if (typeof body.max_tokens === 'number' && pieces.length > body.max_tokens) {
      pieces = pieces.slice(0, body.max_tokens);
      finish = 'MAX_TOKENS';
    }
  }
  const thinking = String(body.model).includes('reasoning') ? 'The user wants a short answer.' : undefined;
  const output = (tool ? tool.plan.split(' ').length + 6 : pieces.length) + (thinking ? THINKING_TOKENS : 0);
  // Raw tokens include Cohere's own prompt template, billed units do not.
  const rawInput = inputWords + 64;
  const conversation = JSON.stringify(messages);
  const cached = seen.has(conversation) ? rawInput : 0;
  if (seen.size >= REMEMBERED) seen.clear();
  seen.add(conversation);
  return {
    id: randomUUID(),
    thinking,
    pieces,
    finish,
    tool,
    usage: {
      billed_units: { input_tokens: inputWords, output_tokens: output },
      tokens: { input_tokens: rawInput, output_tokens: output },
      cached_tokens: cached,
    },
  };
}

function logprob(piece: string, index: number) {
  return { text: piece, token_ids: [1000 + index], logprobs: [-0.25] };
}

function chatResponse(body: Json, r: Reply) {
  const thought = r.thinking ? [{ type: 'thinking', thinking: r.thinking }] : [];
  const message = r.tool
    ? {
        role: 'assistant',
        content: thought,
        tool_plan: r.tool.plan,
        tool_calls: [{ id: r.tool.id, type: 'function', function: { name: r.tool.name, arguments: r.tool.arguments } }],
      }
    : { role: 'assistant', content: [...thought, { type: 'text', text: r.pieces.join('') }] };
  return { id: r.id, message, finish_reason: r.finish, usage: r.usage, ...(body.logprobs === true && !r.tool ? { logprobs: r.pieces.map(logprob) } : {}) };
}

function stream(res: ServerResponse, body: Json, r: Reply, model: string): void {
  const events: Json[] = [
    { id: r.id, type: 'message-start', delta: { message: { role: 'assistant', content: [], tool_plan: '', tool_calls: [], citations: [] } } },
  ];
  const text = r.thinking ? 1 : 0; // the index of the text content item, after any thinking
  if (r.thinking) {
    events.push({ type: 'content-start', index: 0, delta: { message: { content: { type: 'thinking', thinking: '' } } } });
    events.push({ type: 'content-delta', index: 0, delta: { message: { content: { thinking: r.thinking } } } });
    events.push({ type: 'content-end', index: 0 });
  }
  if (r.tool) {
    for (const word of r.tool.plan.split(/(?<= )/)) events.push({ type: 'tool-plan-delta', delta: { message: { tool_plan: word } } });
    events.push({
      type: 'tool-call-start',
      index: 0,
      delta: { message: { tool_calls: { id: r.tool.id, type: 'function', function: { name: r.tool.name, arguments: '' } } } },
    });
    for (const fragment of [r.tool.arguments.slice(0, 8), r.tool.arguments.slice(8)]) {
      events.push({ type: 'tool-call-delta', index: 0, delta: { message: { tool_calls: { function: { arguments: fragment } } } } });
    }
    events.push({ type: 'tool-call-end', index: 0 });
  } else {
    events.push({ type: 'content-start', index: text, delta: { message: { content: { type: 'text', text: '' } } } });
    r.pieces.forEach((piece, index) => {
      const logprobs = body.logprobs === true ? { logprobs: logprob(piece, index) } : {};
      events.push({ type: 'content-delta', index: text, delta: { message: { content: { text: piece } } }, ...logprobs });
    });
    events.push({ type: 'content-end', index: text });
  }
  events.push({ type: 'message-end', delta: { finish_reason: r.finish, usage: r.usage } });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const frame = (event: Json) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`;
  if (model.startsWith('break-stream')) {
    for (const event of events.slice(0, 3)) res.write(frame(event));
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  for (const event of events) res.write(frame(event));
  res.end('data: [DONE]\n\n');
}

function embed(body: Json) {
  checkFields(body, EMBED_FIELDS);
  if (typeof body.model !== 'string' || body.model === '') fail('model is required');
  const texts = body.texts;
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) fail('texts must be a non-empty list of strings');
  if (texts.length > 96) fail(`total number of texts must be at most 96 - received ${texts.length}`);
  if (!['search_document', 'search_query', 'classification', 'clustering'].includes(String(body.input_type))) {
    fail('valid input_type must be provided with the provided model');
  }
  const types = body.embedding_types ?? ['float'];
  if (!Array.isArray(types) || !types.every((t) => t === 'float' || t === 'int8')) fail('embedding_types supported here: float, int8');
  const dimensions = body.output_dimension ?? 1536;
  if (![256, 512, 1024, 1536].includes(Number(dimensions))) fail('output_dimension must be one of 256, 512, 1024, 1536');
  const floats = (texts as string[]).map((text) => wordVector(text, Number(dimensions)));
  const embeddings: Json = {};
  if (types.includes('float')) embeddings.float = floats;
  if (types.includes('int8')) embeddings.int8 = floats.map((v) => v.map((x) => Math.round(x * 127)));
  const tokens = (texts as string[]).reduce((sum, text) => sum + (text.match(/\S+/g)?.length ?? 0), 0);
  return {
    id: randomUUID(),
    embeddings,
    texts,
    meta: { api_version: { version: '2' }, billed_units: { input_tokens: tokens } },
    response_type: 'embeddings_by_type',
  };
}

function sendError(res: ServerResponse, status: number, message: string): void {
  writeJson(res, status, { id: randomUUID(), message });
}
