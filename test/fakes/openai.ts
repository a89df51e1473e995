import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { listenLocally, readBody, writeJson } from './local-server.js';
import { OPENAI_PROFILE, type ErrorFields, type FakeProfile } from './compatible.js';
import { usageMeter, type UsageDialect } from './openai-usage.js';
import { moderation } from './openai-moderations.js';
import { IMAGE_UPLOAD_APIS, imageUploadCall, images } from './openai-images.js';
import { AUDIO_APIS, audioCall, sendAudio } from './openai-audio.js';
import { RESPONSES_PATHS, responses } from './openai-responses.js';
import { FakeBatchApi } from './openai-batches.js';

/** APIs the fake serves as OpenAI itself only, each answered whole from its body. */
const OWN_APIS: Record<string, (body: Record<string, unknown>) => { status: number; body: unknown }> = {
  '/v1/moderations': moderation,
  '/v1/images/generations': images,
};

/**
 * A local stand-in for the OpenAI Chat Completions API, built from its API
 * reference (https://platform.openai.com/docs/api-reference/chat), with embeddings, legacy completions and,
 * as OpenAI itself only, moderations, images (generations, edits, variations), audio and the Responses API
 * and the Files and Batch APIs (openai-moderations.ts, openai-images.ts, openai-audio.ts, openai-responses.ts,
 * openai-batches.ts): the
 * chat.completion object, chat.completion.chunk streaming with
 * stream_options.include_usage (a last chunk with empty choices and the usage,
 * every other chunk with usage null), `data: [DONE]`, and the error object.
 * Usage counts prompt caching and reasoning, in OpenAI's way or, with
 * `dialect`, another OpenAI-compatible server's (openai-usage.ts).
 * openai.test.ts checks it with the official `openai` SDK.
 *
 * Models whose name starts with a trigger misbehave on purpose:
 *   fail-<status>   answers with that HTTP status and an OpenAI error body
 *   stall           never answers (for timeouts)
 *   stall-stream    streams: sends headers, then nothing (a stream stalled before its first byte)
 *   break-stream    sends two chunks, then drops the connection
 *   cut-stream      sends two chunks, then ends the response cleanly without finishing
 *   error-stream    sends two chunks, then an error object (as OpenAI's streams end on one) quoting the last message,
 *                   as a provider's error can quote what it was sent
 *   too-long        400 context_length_exceeded, as OpenAI answers a prompt over the context window
 *   refuse          a completion whose finish_reason is content_filter
 *   chatter         answers with 6,000 words whatever max_tokens says
 *   talker          answers with as many words as its output cap allows (32,768 without one), and bills its
 *                   prompt at one token per UTF-8 byte of the messages' and tools' JSON: the most any byte-level
 *                   tokenizer could, for testing that budgets hold
 *   malformed       a 200 whose completion, or each streamed chunk, has choices: null (no API documents that)
 * A reasoning_effort the API does not know is refused with 400 invalid_value, the value quoted in the message.
 */
export interface FakeOpenAI {
  readonly url: string;
  /** Replaces the keys the fake accepts, as a provider does when a key is rotated. */
  acceptOnly(keys: string[]): void;
  /** Every chat request received, with its Authorization header. */
  readonly requests: { body: Record<string, unknown>; authorization: string | undefined; path: string; headers: IncomingHttpHeaders }[];
  /** Chat completions being answered now, and the most at once, as a provider serving many calls sees them. */
  readonly concurrency: { now: number; most: number };
  /** OpenAI's Files and Batch APIs (OpenAI itself only): the batches created and cancels asked. */
  readonly batches: FakeBatchApi;
  /** Holds every chat completion's answer until the returned function is called. */
  holdAnswers(): () => void;
  close(): Promise<void>;
}

const ERROR_BODIES: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: "Invalid value for 'temperature': must be between 0 and 2.", type: 'invalid_request_error', code: 'invalid_value' },
  429: { message: 'Rate limit reached for requests. Please try again in 1s.', type: 'requests', code: 'rate_limit_exceeded' },
  500: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', code: null },
  503: { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', code: null },
};

type FakeMessage = { role: string; content: unknown; tool_calls?: { function: { name: string } }[] };

const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? (content as { type: string; text?: string }[])
          .filter((p) => p.type === 'text')
          .map((p) => p.text)
          .join(' ')
      : '';

/**
 * The tool call the fake makes when tools are offered: the first tool the
 * user's message names as "<tool> with {json arguments}" that it has not
 * called yet in this conversation (one per turn, so a message naming two
 * tools makes a two-step loop); else, when the user asks about the weather
 * and no tool has answered yet, the first tool with {"city":"Paris"}.
 */
function toolCallFor(body: Record<string, unknown>, profile: FakeProfile): { id: string; name: string; arguments: string } | undefined {
  const tools = body.tools as { function: { name: string } }[] | undefined;
  if (!tools?.length) return undefined;
  const messages = (body.messages ?? []) as FakeMessage[];
  const called = new Set(messages.flatMap((m) => (m.tool_calls ?? []).map((c) => c.function.name)));
  const id = profile.toolCallId();
  const user = textOf([...messages].reverse().find((m) => m.role === 'user')?.content);
  for (const [, name, args] of user.matchAll(/([A-Za-z0-9_-]+) with (\{[^{}]*\})/g)) {
    if (!called.has(name!) && tools.some((t) => t.function.name === name)) return { id, name: name!, arguments: args! };
  }
  if (messages.at(-1)?.role === 'tool' || !user.toLowerCase().includes('weather')) return undefined;
  return { id, name: tools[0]!.function.name, arguments: '{"city":"Paris"}' };
}

/** What the fake answers: the user's last message, and what the tools said after it, if any. */
export function replyText(body: Record<string, unknown>, label = 'OpenAI'): string {
  // A model that ignores max_tokens and talks on, as a broken provider would.
  if (String(body.model).startsWith('chatter')) return 'on and on '.repeat(2_000);
  if (String(body.model).startsWith('talker')) return `${'talk '.repeat(outputCap(body) - 1)}talk`;
  const messages = (body.messages ?? []) as FakeMessage[];
  const lastUser = messages.map((m) => m.role).lastIndexOf('user');
  const toolResults = messages
    .slice(lastUser + 1)
    .filter((m) => m.role === 'tool')
    .map((m) => textOf(m.content));
  return `Fake ${label} reply to: ${textOf(messages[lastUser]?.content)}${toolResults.length ? ` (tools said: ${toolResults.join('; ')})` : ''}`;
}

const outputCap = (body: Record<string, unknown>) => Number(body.max_completion_tokens ?? body.max_tokens ?? 32_768);

export interface FakeOpenAIOptions {
  apiKey: string;
  /** Further keys the fake accepts. */
  otherKeys?: string[];
  /** Keys that are always answered 429, as a provider does for an exhausted quota. */
  rateLimitedKeys?: string[];
  /** Whose usage fields the fake writes (default: the profile's). */
  dialect?: UsageDialect;
  /** The OpenAI-compatible provider the fake is (compatible.ts; default: OpenAI itself). */
  profile?: FakeProfile;
}

type Meter = ReturnType<typeof usageMeter>;

/** What one fake answers with: its provider's profile and its usage counter. */
interface Server {
  profile: FakeProfile;
  meter: Meter;
}

export async function startFakeOpenAI(options: FakeOpenAIOptions): Promise<FakeOpenAI> {
  let accepted = new Set([options.apiKey, ...(options.otherKeys ?? []), ...(options.rateLimitedKeys ?? [])].map((k) => `Bearer ${k}`));
  const limited = new Set((options.rateLimitedKeys ?? []).map((k) => `Bearer ${k}`));
  const requests: FakeOpenAI['requests'] = [];
  const concurrency = { now: 0, most: 0 };
  let held: Promise<void> | undefined;
  const profile = options.profile ?? OPENAI_PROFILE;
  const fake: Server = { profile, meter: usageMeter(options.dialect ?? profile.dialect) };
  const sendError = (res: ServerResponse, status: number, error: ErrorFields) => sendJson(res, status, profile.errorBody(status, error));
  const server = createServer((req, res) => void handle(req, res));
  // A batch's line is answered as the same request alone would be (without the triggers that stall or stream).
  const batches = new FakeBatchApi((path, body) => {
    if (path === '/v1/embeddings') return { status: 200, body: embeddings(body) };
    const failure = /^fail-(\d{3})/.exec(String(body.model));
    if (failure) return { status: Number(failure[1]), body: profile.errorBody(Number(failure[1]), ERROR_BODIES[Number(failure[1])] ?? ERROR_BODIES[500]!) };
    return { status: 200, body: completion(body, String(body.model), fake) };
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const target = (req.url ?? '').split('?')[0]!;
    // Paths as OpenAI's under /v1, wherever the provider's API lives.
    const path = target.startsWith(`${profile.basePath}/`) ? `/v1${target.slice(profile.basePath.length)}` : target;
    if (profile.keyRequired && !accepted.has(req.headers.authorization ?? '')) {
      return sendError(res, 401, {
        message: 'Incorrect API key provided: sk-fake***. You can find your API key at https://platform.openai.com/account/api-keys.',
        type: 'invalid_request_error',
        code: 'invalid_api_key',
      });
    }
    if (profile === OPENAI_PROFILE && batches.serves(path)) {
      const answer = await batches.handle(req.method ?? '', path, raw, req.headers['content-type'] ?? '');
      if (!Buffer.isBuffer(answer.body)) return sendJson(res, answer.status, answer.body);
      res.writeHead(answer.status, { 'content-type': 'application/octet-stream' });
      return void res.end(answer.body);
    }
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }] });
    }
    if (profile === OPENAI_PROFILE && req.method === 'POST' && AUDIO_APIS.has(path)) {
      const { recorded, answer } = await audioCall(path, raw, req.headers['content-type'] ?? '');
      requests.push({ body: recorded, authorization: req.headers.authorization, path, headers: req.headers });
      return sendAudio(res, answer, { 'x-request-id': `req_${randomBytes(12).toString('hex')}` });
    }
    if (profile === OPENAI_PROFILE && req.method === 'POST' && IMAGE_UPLOAD_APIS.has(path)) {
      const { recorded, answer } = await imageUploadCall(path, raw, req.headers['content-type'] ?? '');
      requests.push({ body: recorded, authorization: req.headers.authorization, path, headers: req.headers });
      return sendJson(res, answer.status, answer.body);
    }
    if (profile === OPENAI_PROFILE && req.method === 'POST' && RESPONSES_PATHS.has(path)) {
      const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      requests.push({ body, authorization: req.headers.authorization, path, headers: req.headers });
      return responses(res, path, body);
    }
    const own = profile === OPENAI_PROFILE ? OWN_APIS[path] : profile.ownApis?.[path];
    if (req.method !== 'POST' || (!own && !['/v1/chat/completions', '/v1/completions', '/v1/embeddings'].includes(path ?? ''))) {
      return sendError(res, 404, { message: `Invalid URL (${req.method} ${path})`, type: 'invalid_request_error', code: null });
    }
    const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    requests.push({ body, authorization: req.headers.authorization, path, headers: req.headers });
    if (path === '/v1/embeddings') return sendJson(res, 200, embeddings(body));
    if (own) {
      const answer = own(body);
      return sendJson(res, answer.status, answer.body);
    }
    if (path === '/v1/completions') return legacyCompletion(res, body);
    if (limited.has(req.headers.authorization ?? '')) {
      res.setHeader('retry-after', '30');
      return sendError(res, 429, ERROR_BODIES[429]!);
    }
    const model = String(body.model);
    concurrency.most = Math.max(concurrency.most, ++concurrency.now);
    res.once('close', () => concurrency.now--);
    await held;
    const refusal = profile.refuse(body);
    if (refusal) {
      const { status, ...error } = refusal;
      return sendError(res, status, error);
    }
    const effort = body.reasoning_effort;
    if (effort !== undefined && !['minimal', 'low', 'medium', 'high'].includes(String(effort))) {
      // As the API does: the refused value quoted back in the message.
      return sendJson(res, 400, {
        error: {
          message: `Invalid value: '${String(effort)}'. Supported values are: 'minimal', 'low', 'medium', and 'high'.`,
          type: 'invalid_request_error',
          param: 'reasoning_effort',
          code: 'invalid_value',
        },
      });
    }
    const failure = /^fail-(\d{3})/.exec(model);
    if (failure) {
      const status = Number(failure[1]);
      if (status === 429) res.setHeader('retry-after', '1');
      return sendError(res, status, ERROR_BODIES[status] ?? ERROR_BODIES[500]!);
    }
    if (model.startsWith('too-long')) {
      return sendError(res, 400, {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 250000 tokens. Please reduce the length of the messages.",
        type: 'invalid_request_error',
        code: 'context_length_exceeded',
      });
    }
    if (model === 'stall-stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      return;
    }
    if (model.startsWith('stall')) return; // never answers
    if (body.stream === true) return stream(res, body, model, fake);
    return sendJson(res, 200, completion(body, model, fake));
  }

  const { url, close } = await listenLocally(server);
  const acceptOnly = (keys: string[]) => {
    accepted = new Set(keys.map((k) => `Bearer ${k}`));
  };
  const holdAnswers = () => {
    let release!: () => void;
    held = new Promise((resolve) => (release = resolve));
    return () => {
      held = undefined;
      release();
    };
  };
  return { url, requests, concurrency, batches, holdAnswers, acceptOnly, close };
}

/**
 * What the fake answers, as its provider's profile has it: the reply (cut at the output cap the provider reads),
 * a tool call, and reasoning text for the provider's reasoning models.
 */
function answerOf(body: Record<string, unknown>, model: string, { profile }: Server) {
  const call = toolCallFor(body, profile);
  const words = (profile.reply?.(body) ?? replyText(body, profile.label)).split(/(?<= )/);
  const cap = profile.capParam ? body[profile.capParam] : undefined;
  const cut = typeof cap === 'number' && cap < words.length;
  const text = cut ? words.slice(0, cap).join('').trimEnd() : words.join('');
  const finish = call ? profile.toolFinish : cut ? 'length' : 'stop';
  const reasoning = profile.reasoning?.models.test(model) ? { field: profile.reasoning.field, text: 'Thinking it over first.' } : undefined;
  return { text, call, finish, reasoning };
}

function completion(body: Record<string, unknown>, model: string, fake: Server): Record<string, unknown> {
  if (model.startsWith('malformed')) return { ...completion(body, 'gpt-4o-mini', fake), model, choices: null };
  if (model.startsWith('refuse')) {
    return {
      id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'content_filter' }],
      usage: fake.meter(body, model, ''),
    };
  }
  const { text, call, finish, reasoning } = answerOf(body, model, fake);
  const message = {
    role: 'assistant',
    content: call ? null : text,
    refusal: null,
    annotations: [],
    ...(reasoning ? { [reasoning.field]: reasoning.text } : {}),
    ...(call ? { tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] } : {}),
  };
  return {
    id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage: fake.meter(body, model, text),
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

/**
 * A streamed answer. Usage goes where the profile says: OpenAI's own last chunk when stream_options asks for it
 * (every other chunk then has usage null), or always on the finishing chunk, or there in Groq's x_groq.
 */
function stream(res: ServerResponse, body: Record<string, unknown>, model: string, fake: Server): void {
  const { profile, meter } = fake;
  const asked = profile.streamUsage === 'asked' && (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const { text, call, finish, reasoning } = answerOf(body, model, fake);
  const base = {
    id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: 'fp_fake',
  };
  const withUsage = asked ? { usage: null } : {};
  const chunk = (delta: object, finishReason: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...withUsage,
  });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  if (profile.keepAlive) res.write(`${profile.keepAlive}\n\n`);
  const events: object[] = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
  if (reasoning) for (const word of reasoning.text.split(/(?<= )/)) events.push(chunk({ [reasoning.field]: word }, null));
  if (call && profile.wholeToolCalls) {
    events.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] }, null));
  } else if (call) {
    events.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }, null));
    const half = Math.ceil(call.arguments.length / 2);
    for (const piece of [call.arguments.slice(0, half), call.arguments.slice(half)])
      events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
  } else {
    for (const word of text.split(/(?<= )/)) events.push(chunk({ content: word }, null));
  }
  const usage = () => meter(body, model, text);
  const last = chunk({}, finish);
  if (profile.streamUsage === 'finish') events.push({ ...last, usage: usage() });
  else if (profile.streamUsage === 'x_groq') events.push({ ...last, x_groq: { id: `req_${randomBytes(8).toString('hex')}`, usage: usage() } });
  else events.push(last);
  if (asked) events.push({ ...base, choices: [], usage: usage() });
  if (model.startsWith('cut-stream')) {
    res.end(`data: ${JSON.stringify(events[0])}\n\ndata: ${JSON.stringify(events[1])}\n\n`);
    return;
  }
  if (model.startsWith('error-stream')) {
    const said = String((body.messages as { content?: unknown }[] | undefined)?.at(-1)?.content ?? '');
    const error = { error: { message: `The model could not finish its answer to: ${said}`, type: 'server_error', code: null } };
    res.end(`data: ${JSON.stringify(events[0])}\n\ndata: ${JSON.stringify(events[1])}\n\ndata: ${JSON.stringify(error)}\n\n`);
    return;
  }
  if (model.startsWith('malformed')) {
    for (const event of events) res.write(`data: ${JSON.stringify({ ...event, choices: null })}\n\n`);
    res.end('data: [DONE]\n\n');
    return;
  }
  if (model.startsWith('break-stream')) {
    res.write(`data: ${JSON.stringify(events[0])}\n\n`);
    res.write(`data: ${JSON.stringify(events[1])}\n\n`);
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
  res.end('data: [DONE]\n\n');
}

/**
 * POST /v1/embeddings: one 8-dimension vector per input, derived from its
 * length; as floats, or as base64 of little-endian float32 when
 * encoding_format is base64 (what the SDK asks for by default).
 */
function embeddings(body: Record<string, unknown>) {
  const inputs = (Array.isArray(body.input) ? body.input : [body.input]).map(String);
  const vector = (text: string) => Array.from({ length: 8 }, (_, i) => ((text.length + i) % 7) / 7);
  const encode = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');
  const data = inputs.map((text, index) => ({
    object: 'embedding',
    index,
    embedding: body.encoding_format === 'base64' ? encode(vector(text)) : vector(text),
  }));
  const tokens = inputs.reduce((sum, text) => sum + text.split(' ').length, 0);
  return { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/** POST /v1/completions (legacy): text_completion objects, streamed or whole. */
function legacyCompletion(res: ServerResponse, body: Record<string, unknown>): void {
  const prompts = Array.isArray(body.prompt) ? body.prompt.map(String) : [String(body.prompt)];
  const base = { id: `cmpl-${randomBytes(12).toString('base64url')}`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: body.model };
  const texts = prompts.map((p) => ` completed: ${p}`);
  const usage = { prompt_tokens: prompts.join(' ').split(' ').length, completion_tokens: texts.join(' ').split(' ').length, total_tokens: 0 };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (body.stream !== true) {
    return sendJson(res, 200, { ...base, choices: texts.map((text, index) => ({ text, index, logprobs: null, finish_reason: 'stop' })), usage });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  texts.forEach((text, index) => {
    for (const word of text.split(/(?<= )/))
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ text: word, index, logprobs: null, finish_reason: null }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ text: '', index, logprobs: null, finish_reason: 'stop' }] })}\n\n`);
  });
  if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage)
    res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  writeJson(res, status, body, { 'x-request-id': `req_${randomBytes(8).toString('hex')}` });
}
