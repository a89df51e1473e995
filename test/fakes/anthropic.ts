import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { FakeMessageBatches } from './anthropic-batches.js';
import { listenLocally, readBody, writeJson } from './local-server.js';
import { missingThinking, thinkingSettingsRefusal, redactedData, sign, thinkingText, validRedacted } from './signed-thinking.js';

/**
 * A local stand-in for the Anthropic Messages API, built from its reference
 * (https://docs.anthropic.com/en/api/messages, .../messages-streaming, .../messages-count-tokens,
 * .../errors): POST /v1/messages with x-api-key (or a bearer token) and anthropic-version, the
 * message object, the streaming event sequence (message_start,
 * content_block_start/delta/stop, ping, message_delta, message_stop), tool
 * use, and the error body; POST /v1/messages/count_tokens answers { input_tokens }, the count
 * the same prompt's message would report, and refuses fields the endpoint does not take. anthropic.test.ts checks it with the official SDK.
 * It deliberately writes its own JSON rather than sharing types with the
 * adapter, so a misreading of the reference cannot hide on both sides.
 *
 * The reply is "Fake Anthropic reply to: <last user text>", one output token
 * per word, cut at max_tokens (stop_reason max_tokens). When the request has
 * tools, the reply calls the first tool the last user text names as
 * "<tool> with {json input}" that the conversation has not called yet (as the
 * OpenAI fake does, so a coding agent can be made to run one of its own tools);
 * else, when that text contains "weather", the first tool with {"city":"Paris"}
 * (stop_reason tool_use), after a short text block unless tool_choice forces a tool.
 *
 * Models whose name starts with a trigger misbehave on purpose:
 *   fail-<status>  answers with that HTTP status and an Anthropic error body
 *                  (429 with retry-after: 1; 529 overloaded_error)
 *   too-long       400 "prompt is too long: 250000 tokens > 200000 maximum"
 *   stall          never answers (for timeouts)
 *   break-stream   sends two events, then drops the connection
 *   error-stream   streams message_start, then an overloaded_error event
 *   refuse         stop_reason refusal with no content
 *   cached         usage reports cache_read_input_tokens 100 and cache_creation_input_tokens 20, which
 *                  cache_creation counts as written for an hour when a cache_control in the request asks for ttl 1h
 * A request with thinking enabled ({type:"enabled",budget_tokens} or {type:"adaptive"}), or for a model whose name
 * contains "thinking", thinks first: a thinking block signed by the fake, and usage whose output_tokens include
 * THINKING_TOKENS, broken out in output_tokens_details; a model whose name also contains "redacted" adds a
 * redacted_thinking block before it. As the real API (.../build-with-claude/extended-thinking), with thinking enabled
 * a request whose last turn returns tool results is refused unless the assistant turn that called the tools starts
 * with a thinking or redacted_thinking block, and a thinking block whose signature the fake did not make is refused;
 * so is an enabled budget_tokens under 1024 or not under max_tokens, or a temperature other than 1 with it.
 *   malformed      a 200 message whose content is null; streamed, a message_start without its message
 */
export interface FakeAnthropic {
  readonly url: string;
  /** Every /v1/messages and count_tokens request received (after the key check), with the key, the header it came in, and the version headers. */
  readonly requests: {
    path: string;
    body: Record<string, unknown>;
    apiKey: string;
    keyHeader: 'x-api-key' | 'authorization';
    version: string;
    beta: string | undefined;
    /** The query string, without its `?` ("" for none). */
    query: string;
  }[];
  /** The Message Batches API (anthropic-batches.ts): the batches created and cancels asked. */
  readonly batches: FakeMessageBatches;
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'messages: text content blocks must be non-empty' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  402: { type: 'billing_error', message: 'Your credit balance is too low to access the Anthropic API.' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit.' },
  500: { type: 'api_error', message: 'Internal server error' },
  504: { type: 'timeout_error', message: 'Request timeout' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

export const THINKING_TOKENS = 24;

const COUNT_PATH = '/v1/messages/count_tokens';
/** The fields count_tokens takes; any other (max_tokens, stream) is refused as extra input. */
const COUNT_FIELDS = new Set(['model', 'messages', 'system', 'tools', 'tool_choice', 'thinking', 'mcp_servers']);

function countTokens(res: ServerResponse, body: Record<string, unknown>): void {
  for (const field of ['model', 'messages']) {
    if (body[field] === undefined) return sendError(res, 400, { type: 'invalid_request_error', message: `${field}: Field required` });
  }
  const extra = Object.keys(body).find((field) => !COUNT_FIELDS.has(field));
  if (extra) return sendError(res, 400, { type: 'invalid_request_error', message: `${extra}: Extra inputs are not permitted` });
  sendJson(res, 200, { input_tokens: inputTokens(body) });
}

/** What the fake bills for a prompt: a token per four characters of its JSON. */
function inputTokens(body: Record<string, unknown>): number {
  return Math.ceil(JSON.stringify([body.system ?? '', body.messages ?? [], body.tools ?? []]).length / 4);
}

interface Block {
  type: string;
  [field: string]: unknown;
}
interface Turn {
  role: string;
  content: string | Block[];
}

export async function startFakeAnthropic(options: { apiKey: string }): Promise<FakeAnthropic> {
  const requests: FakeAnthropic['requests'] = [];
  const server = createServer((req, res) => void handle(req, res));
  let baseUrl = '';
  // A batch's request is answered as the same request alone would be.
  const batches = new FakeMessageBatches(
    (params) => {
      const failure = /^fail-(\d{3})/.exec(String(params.model));
      if (failure) return { status: Number(failure[1]), body: { type: 'error', error: ERROR_TYPES[Number(failure[1])] ?? ERROR_TYPES[500]! } };
      const reply = answer(params, String(params.model));
      return { status: 200, body: { ...reply.start, content: reply.blocks, stop_reason: reply.stopReason, usage: finalUsage(reply) } };
    },
    () => baseUrl,
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? '').split('?')[0];
    // The reference documents x-api-key; recent official SDKs send the key as a bearer token, which the API also takes.
    const bearer = /^Bearer (.+)$/.exec(header(req, 'authorization') ?? '')?.[1];
    const apiKey = header(req, 'x-api-key') ?? bearer;
    if (apiKey !== options.apiKey) return sendError(res, 401, ERROR_TYPES[401]!);
    if (path && batches.serves(path)) {
      const { status, body } = batches.handle(req.method ?? '', path, raw);
      if (!Buffer.isBuffer(body)) return sendJson(res, status, body);
      res.writeHead(status, { 'content-type': 'application/binary', 'request-id': requestId() });
      return void res.end(body);
    }
    if (req.method !== 'POST' || (path !== '/v1/messages' && path !== COUNT_PATH))
      return sendError(res, 404, { type: 'not_found_error', message: `Not found: ${req.method} ${path}` });
    const version = header(req, 'anthropic-version');
    if (!version) return sendError(res, 400, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      return sendError(res, 400, { type: 'invalid_request_error', message: 'There was an issue with your request body: invalid JSON' });
    }
    requests.push({
      path,
      body,
      apiKey,
      keyHeader: header(req, 'x-api-key') ? 'x-api-key' : 'authorization',
      version,
      beta: header(req, 'anthropic-beta'),
      query: (req.url ?? '').split('?')[1] ?? '',
    });
    if (path === COUNT_PATH) return countTokens(res, body);
    for (const field of ['model', 'max_tokens', 'messages']) {
      if (body[field] === undefined) return sendError(res, 400, { type: 'invalid_request_error', message: `${field}: Field required` });
    }
    const model = String(body.model);
    const failure = /^fail-(\d{3})/.exec(model);
    if (failure) {
      const status = Number(failure[1]);
      if (status === 429) res.setHeader('retry-after', '1');
      return sendError(res, status, ERROR_TYPES[status] ?? ERROR_TYPES[500]!);
    }
    if (model.startsWith('too-long'))
      return sendError(res, 400, { type: 'invalid_request_error', message: 'prompt is too long: 250000 tokens > 200000 maximum' });
    if (model.startsWith('stall')) return; // never answers
    const refused = thinkingSettingsRefusal(body.thinking, body.max_tokens, body.temperature) ?? thinkingRefusal(body);
    if (refused) return sendError(res, 400, { type: 'invalid_request_error', message: refused });
    const reply = answer(body, model);
    if (body.stream === true) return stream(res, reply, model);
    const content = model.startsWith('malformed') ? null : reply.blocks;
    return sendJson(res, 200, { ...reply.start, content, stop_reason: reply.stopReason, usage: finalUsage(reply) });
  }

  const { url, close } = await listenLocally(server);
  baseUrl = url;
  return { url, requests, batches, close };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function textOf(content: Turn['content'], withToolResults: boolean): string {
  if (typeof content === 'string') return content;
  return content
    .map((block) => {
      if (block.type === 'text') return String(block.text);
      if (withToolResults && block.type === 'tool_result')
        return typeof block.content === 'string' ? block.content : textOf((block.content ?? []) as Block[], false);
      return '';
    })
    .join(' ')
    .trim();
}

interface Reply {
  /** The message object as message_start carries it: empty content, no stop reason. */
  start: { id: string; type: 'message'; role: 'assistant'; content: []; model: string; stop_reason: null; stop_sequence: null; usage: Record<string, unknown> };
  blocks: Block[];
  stopReason: string;
  outputTokens: number;
  thinkingTokens: number;
}

/** The usage of the whole answer, as the message and the last message_delta report it (counts are cumulative). */
function finalUsage(reply: Reply): Record<string, unknown> {
  return { ...reply.start.usage, output_tokens: reply.outputTokens + reply.thinkingTokens, output_tokens_details: { thinking_tokens: reply.thinkingTokens } };
}

/** Whether any block of the request asks for a one-hour cache. */
function cachesForAnHour(body: Record<string, unknown>): boolean {
  return JSON.stringify([body.system, body.messages, body.tools]).includes('"ttl":"1h"');
}

/** The first "<tool> with {json}" in the user's text naming an offered tool not called yet in this conversation. */
function namedCall(messages: Turn[], userText: string, tools: { name: string }[]): { name: string; input: unknown } | undefined {
  const called = new Set(
    messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.filter((b) => b.type === 'tool_use').map((b) => String(b.name)))),
  );
  for (const [, name, input] of userText.matchAll(/([A-Za-z0-9_-]+) with (\{[^{}]*\})/g)) {
    if (!called.has(name!) && tools.some((t) => t.name === name)) return { name: name!, input: JSON.parse(input!) };
  }
  return undefined;
}

const thinkingOn = (body: Record<string, unknown>) => ['enabled', 'adaptive'].includes(String((body.thinking as { type?: unknown } | undefined)?.type));

/** Why the real API would refuse the request's thinking blocks, or undefined. */
function thinkingRefusal(body: Record<string, unknown>): string | undefined {
  const messages = (body.messages ?? []) as Turn[];
  for (const [i, turn] of messages.entries()) {
    if (typeof turn.content === 'string') continue;
    for (const [j, block] of turn.content.entries()) {
      if (block.type === 'thinking' && block.signature !== sign(String(block.thinking)))
        return `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
      if (block.type === 'redacted_thinking' && !validRedacted(String(block.data)))
        return `messages.${i}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
  }
  const last = messages.at(-1);
  const returnsResults = last?.role === 'user' && typeof last.content !== 'string' && last.content.some((b) => b.type === 'tool_result');
  const caller = messages.length - 2;
  const callerTurn = messages[caller];
  if (!thinkingOn(body) || !returnsResults || callerTurn?.role !== 'assistant') return undefined;
  const first = typeof callerTurn.content === 'string' ? { type: 'text' } : (callerTurn.content[0] ?? { type: 'text' });
  if (first.type === 'thinking' || first.type === 'redacted_thinking') return undefined;
  return missingThinking(caller, first.type);
}

function answer(body: Record<string, unknown>, model: string): Reply {
  const messages = (body.messages ?? []) as Turn[];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const userText = lastUser ? textOf(lastUser.content, false) : '';
  const tools = (body.tools ?? []) as { name: string }[];
  const forced = ['any', 'tool'].includes(String((body.tool_choice as { type?: string } | undefined)?.type));
  const written = model.startsWith('cached') ? 20 : 0;
  const hour = cachesForAnHour(body);
  const usage = {
    input_tokens: inputTokens(body),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: model.startsWith('cached') ? 100 : 0,
    cache_creation: { ephemeral_5m_input_tokens: hour ? 0 : written, ephemeral_1h_input_tokens: hour ? written : 0 },
    output_tokens: 1,
  };
  const start: Reply['start'] = {
    id: `msg_${randomBytes(12).toString('hex')}`,
    type: 'message',
    role: 'assistant',
    content: [],
    model,
    stop_reason: null,
    stop_sequence: null,
    usage,
  };
  const thinkingTokens = model.includes('thinking') || thinkingOn(body) ? THINKING_TOKENS : 0;
  const thinking = thinkingText();
  const thought: Block[] = thinkingTokens
    ? [...(model.includes('redacted') ? [{ type: 'redacted_thinking', data: redactedData() }] : []), { type: 'thinking', thinking, signature: sign(thinking) }]
    : [];
  if (model.startsWith('refuse')) return { start, blocks: [], stopReason: 'refusal', outputTokens: 0, thinkingTokens: 0 };
  const named = namedCall(messages, userText, tools);
  const call = named ?? (tools.length > 0 && /weather/i.test(userText) ? { name: tools[0]!.name, input: { city: 'Paris' } } : undefined);
  if (call) {
    const preface = named ? `I'll call ${named.name}.` : "I'll look up the weather.";
    const blocks: Block[] = [...thought, ...(forced ? [] : [{ type: 'text', text: preface }])];
    blocks.push({ type: 'tool_use', id: `toolu_${randomBytes(12).toString('hex')}`, ...call });
    return { start, blocks, stopReason: 'tool_use', outputTokens: 12, thinkingTokens };
  }
  const words = `Fake Anthropic reply to: ${lastUser ? textOf(lastUser.content, true) : ''}`.split(/(?<= )/);
  const maxTokens = Number(body.max_tokens);
  const kept = words.slice(0, Math.max(1, maxTokens));
  const stopReason = kept.length < words.length ? 'max_tokens' : 'end_turn';
  return { start, blocks: [...thought, { type: 'text', text: kept.join('') }], stopReason, outputTokens: kept.length, thinkingTokens };
}

function stream(res: ServerResponse, reply: Reply, model: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'request-id': requestId() });
  const events: [string, object][] = [['message_start', { type: 'message_start', message: reply.start }]];
  reply.blocks.forEach((block, index) => {
    if (block.type === 'thinking') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }]);
      const text = String(block.thinking);
      for (const piece of [text.slice(0, 9), text.slice(9)]) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: piece } }]);
      }
      events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature } }]);
    } else if (block.type === 'redacted_thinking') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: block }]);
    } else if (block.type === 'text') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
      if (index === 0) events.push(['ping', { type: 'ping' }]);
      for (const word of String(block.text).split(/(?<= )/)) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: word } }]);
      }
    } else {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } }]);
      // Like the real API: an empty first fragment, then the JSON in pieces that are not valid on their own.
      const json = JSON.stringify(block.input);
      for (const fragment of ['', json.slice(0, 5), json.slice(5, 11), json.slice(11)]) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: fragment } }]);
      }
    }
    events.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  events.push(['message_delta', { type: 'message_delta', delta: { stop_reason: reply.stopReason, stop_sequence: null }, usage: finalUsage(reply) }]);
  events.push(['message_stop', { type: 'message_stop' }]);
  const write = ([name, data]: [string, object]) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  if (model.startsWith('break-stream')) {
    events.slice(0, 2).forEach(write);
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  if (model.startsWith('malformed')) {
    write(['message_start', { type: 'message_start' }]);
    res.end();
    return;
  }
  if (model.startsWith('error-stream')) {
    write(events[0]!);
    write(['error', { type: 'error', error: ERROR_TYPES[529] }]);
    res.end();
    return;
  }
  events.forEach(write);
  res.end();
}

function requestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  writeJson(res, status, body, { 'request-id': requestId(), ...headers });
}

function sendError(res: ServerResponse, status: number, error: { type: string; message: string }): void {
  // Anthropic puts the request id in the body too; x-should-retry tells its SDKs what to retry.
  const id = requestId();
  sendJson(res, status, { type: 'error', error, request_id: id }, { 'request-id': id, 'x-should-retry': String(status === 429 || status >= 500) });
}
