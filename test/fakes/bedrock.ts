import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as http2Constants, createServer as createHttp2Server, Http2ServerResponse, type Http2ServerRequest } from 'node:http2';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { invalidInvoke, invokeAnswer, invokeStreamEvents, type InvokeBody } from './bedrock-invoke.js';
import { listenLocally, readBody, writeJson } from './local-server.js';
import { missingThinking, redactedData, sign, thinkingSettingsRefusal, thinkingText, validRedacted } from './signed-thinking.js';
import { signingKeyId, verifySignature } from './sigv4.js';

/**
 * A local stand-in for the Amazon Bedrock Runtime Converse and ConverseStream
 * APIs (and InvokeModel, with its stream, for Anthropic's models: bedrock-invoke.ts), built from AWS's API reference
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
 * SigV4 is verified by recomputing the signature from what was received,
 * errors are REST-JSON (`x-amzn-errortype` and `{"message"}`), and streams are
 * binary event-stream frames. bedrock.test.ts checks it with the official
 * @aws-sdk/client-bedrock-runtime.
 *
 * Model ids starting with a trigger misbehave on purpose:
 *   fail-<status>    that status with its Bedrock exception type
 *   too-long         400 ValidationException "Input is too long for requested model."
 *   stall            never answers (for timeouts)
 *   break-stream     streams two events, then drops the connection
 *   stream-throttle  streams two events, then a throttlingException frame
 *
 * The reply is "Fake Bedrock reply to: <last user text>"; when the request has
 * tools and that text mentions "weather" (or toolChoice forces a tool), a
 * toolUse of the first (or forced) tool with input {"city":"Paris"} follows.
 * A request with a cachePoint reports 7 cache-read and 3 cache-write tokens,
 * which cacheDetails counts as written for an hour when a cachePoint asks for ttl 1h.
 * With additionalModelRequestFields.thinking enabled (an Anthropic model's), the reply starts with a signed
 * reasoningContent block (redacted too for a model id containing "redacted"), and a tool continuation that lost it is
 * refused as Anthropic's models refuse it (signed-thinking.ts), as is a budget under 1024 or not under maxTokens.
 */
export interface FakeBedrock {
  readonly url: string;
  /** Every request whose signature was valid, with its headers and decoded JSON body. */
  readonly requests: { operation: Operation; modelId: string; accessKeyId: string; headers: Record<string, unknown>; body: ConverseBody }[];
  close(): Promise<void>;
}

export interface FakeBedrockOptions {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

type Operation = 'converse' | 'converse-stream' | 'invoke' | 'invoke-with-response-stream';

interface Block {
  text?: string;
  reasoningContent?: { reasoningText?: { text: string; signature?: string }; redactedContent?: string };
  image?: { format: string; source: { bytes: string } };
  toolUse?: { toolUseId: string; name: string; input: unknown };
  toolResult?: { toolUseId: string; content: { text?: string; json?: unknown }[]; status?: string };
  cachePoint?: { type: string; ttl?: string };
}

export interface ConverseBody {
  messages?: { role: string; content: Block[] }[];
  system?: Block[];
  inferenceConfig?: Record<string, unknown>;
  toolConfig?: {
    tools: { toolSpec: { name: string; description?: string; inputSchema: { json: unknown } } }[];
    toolChoice?: { any?: object; auto?: object; tool?: { name: string } };
  };
  additionalModelRequestFields?: { thinking?: { type?: string } };
  [field: string]: unknown;
}

const ERRORS: Record<number, [type: string, message: string]> = {
  400: ['ValidationException', 'Malformed input request, please reformat your input and try again.'],
  403: ['AccessDeniedException', "You don't have access to the model with the specified model ID."],
  404: ['ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.'],
  408: ['ModelTimeoutException', 'Model has timed out in processing the request. Try your request again.'],
  424: ['ModelErrorException', 'The model produced an invalid response.'],
  429: ['ThrottlingException', 'Too many requests, please wait before trying again.'],
  500: ['InternalServerException', 'The server encountered an internal error while processing the request.'],
  503: ['ServiceUnavailableException', 'Bedrock is unable to process your request.'],
};

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

export async function startFakeBedrock(options: FakeBedrockOptions): Promise<FakeBedrock> {
  const requests: FakeBedrock['requests'] = [];
  const onRequest = (req: Request, res: Response) => void handle(req, res).catch(() => drop(res));
  const http1 = createHttp1Server(onRequest);
  const http2 = createHttp2Server(onRequest);
  // Bedrock serves HTTP/1.1 and HTTP/2; the AWS SDK's Bedrock client speaks HTTP/2 (prior knowledge
  // on plain http), undici HTTP/1.1. The first bytes of a connection tell which one it is.
  const server = createTcpServer((socket) => {
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first.subarray(0, 4).toString('latin1') === 'PRI ') {
        http2.emit('connection', replay(socket, first));
      } else {
        socket.unshift(first);
        http1.emit('connection', socket);
        socket.resume();
      }
    });
  });

  async function handle(req: Request, res: Response): Promise<void> {
    const raw = await readBody(req);
    const [path = '', query = ''] = (req.url ?? '').split('?');
    const route = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec(path);
    if (req.method !== 'POST' || !route) return sendError(res, 404, 'UnknownOperationException', 'Unknown operation.');

    const refused = await verifySignature(req, path, query, raw, options);
    if (refused) return sendError(res, 403, refused.type, refused.message);

    let body: ConverseBody;
    try {
      body = JSON.parse(raw.toString('utf8')) as ConverseBody;
    } catch {
      return sendError(res, 400, 'SerializationException', 'The request body is not valid JSON.');
    }
    const modelId = decodeURIComponent(route[1]!);
    const operation = route[2] as Operation;
    const accessKeyId = signingKeyId(String(req.headers.authorization))!;
    requests.push({ operation, modelId, accessKeyId, headers: { ...req.headers }, body });
    if (operation === 'invoke' || operation === 'invoke-with-response-stream') return invoke(res, body as InvokeBody, modelId, operation);

    const invalid = validate(body);
    if (invalid) return sendError(res, 400, 'ValidationException', invalid);
    const failure = /^fail-(\d{3})/.exec(modelId);
    if (failure) {
      const status = Number(failure[1]);
      const [type, message] = ERRORS[status] ?? ERRORS[500]!;
      return sendError(res, status, type, message);
    }
    if (modelId.startsWith('too-long')) return sendError(res, 400, 'ValidationException', 'Input is too long for requested model.');
    if (modelId.startsWith('stall')) return; // never answers
    if (operation === 'converse-stream') return stream(res, body, modelId);
    if (modelId.startsWith('break-stream')) return drop(res);
    const reply = answer(body, modelId);
    const content: Block[] = [
      ...reply.reasoning.map((reasoningContent) => ({ reasoningContent })),
      { text: reply.text },
      ...(reply.toolUse ? [{ toolUse: reply.toolUse }] : []),
    ];
    sendJson(res, 200, { output: { message: { role: 'assistant', content } }, stopReason: reply.stopReason, usage: reply.usage, metrics: { latencyMs: 42 } });
  }

  const { url, close } = await listenLocally(server);
  return { url, requests, close };
}

/**
 * The socket as a stream that first yields the bytes already read from it:
 * the HTTP/2 server reads sockets natively and would miss data put back with unshift().
 */
function replay(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => void socket.end(callback),
    destroy: (err, callback) => {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  duplex.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (err) => duplex.destroy(err));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

/** A few of Converse's own validation rules, so adapter mistakes fail here as they would on AWS. */
function validate(body: ConverseBody): string | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return 'The messages field is required and must not be empty.';
  let toolBlocks = false;
  for (const [i, message] of messages.entries()) {
    if (message.role !== 'user' && message.role !== 'assistant') return `messages.${i}.role must be user or assistant.`;
    if (i > 0 && messages[i - 1]!.role === message.role) return 'A conversation must alternate between user and assistant roles.';
    if (!Array.isArray(message.content) || message.content.length === 0) return `The content field in the Message object at messages.${i} is empty.`;
    for (const block of message.content) {
      if (block.text !== undefined && !block.text.trim()) return `The text field in the ContentBlock object at messages.${i} is blank.`;
      if (block.toolUse || block.toolResult) toolBlocks = true;
    }
  }
  if (messages[0]!.role !== 'user') return 'A conversation must start with a user message.';
  if (toolBlocks && !body.toolConfig) return 'The toolConfig field must be defined when using toolUse and toolResult content blocks.';
  const { maxTokens, temperature } = body.inferenceConfig ?? {};
  const settings = thinkingSettingsRefusal(body.additionalModelRequestFields?.thinking, maxTokens, temperature);
  // Bedrock relays the model's own refusal after a prefix of its own.
  if (settings) return `The model returned the following errors: ${settings}`;
  return thinkingRefusal(body);
}

const thinkingOn = (body: ConverseBody) => ['enabled', 'adaptive'].includes(String(body.additionalModelRequestFields?.thinking?.type));

/** Why an Anthropic model would refuse the request's reasoning blocks, or undefined. */
function thinkingRefusal(body: ConverseBody): string | undefined {
  const messages = body.messages!;
  for (const [i, message] of messages.entries()) {
    for (const block of message.content) {
      const signed = block.reasoningContent?.reasoningText;
      if (signed && signed.signature !== sign(signed.text)) return `messages.${i}: Invalid \`signature\` in \`thinking\` block`;
      const redacted = block.reasoningContent?.redactedContent;
      if (redacted !== undefined && !validRedacted(redacted)) return `messages.${i}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
  }
  const caller = messages.length - 2;
  const returnsResults = messages.at(-1)!.content.some((block) => block.toolResult);
  const first = messages[caller]?.content[0];
  if (!thinkingOn(body) || !returnsResults || !first || first.reasoningContent) return undefined;
  return missingThinking(caller, first.toolUse ? 'tool_use' : 'text');
}

interface Reply {
  reasoning: NonNullable<Block['reasoningContent']>[];
  text: string;
  toolUse?: { toolUseId: string; name: string; input: { city: string } };
  stopReason: 'end_turn' | 'tool_use';
  usage: {
    inputTokens: number;
    outputTokens: number;
    totalTokens: number;
    cacheReadInputTokens?: number;
    cacheWriteInputTokens?: number;
    cacheDetails?: { ttl: string; inputTokens: number }[];
  };
}

function lastUserText(body: ConverseBody): string {
  const last = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  const texts = (last?.content ?? []).flatMap((block) => (block.text !== undefined ? [block.text] : []));
  if (texts.length > 0) return texts.join(' ');
  // A turn made only of tool results: answer about what the tool returned.
  const results = (last?.content ?? []).flatMap((block) => block.toolResult?.content ?? []);
  return results.map((c) => c.text ?? JSON.stringify(c.json)).join(' ');
}

function answer(body: ConverseBody, modelId: string): Reply {
  const userText = lastUserText(body);
  const text = `Fake Bedrock reply to: ${userText}`;
  const tools = body.toolConfig?.tools ?? [];
  const choice = body.toolConfig?.toolChoice;
  const wantsTool = tools.length > 0 && (/weather/i.test(userText) || choice?.any !== undefined || choice?.tool !== undefined);
  const toolUse = wantsTool
    ? { toolUseId: `tooluse_${randomBytes(12).toString('base64url')}`, name: choice?.tool?.name ?? tools[0]!.toolSpec.name, input: { city: 'Paris' } }
    : undefined;
  const cached = JSON.stringify(body).includes('"cachePoint"');
  const inputTokens = Math.ceil(JSON.stringify(body.messages ?? []).length / 4);
  const outputTokens = text.split(' ').length + (toolUse ? 5 : 0);
  const ttl = JSON.stringify(body).includes('"ttl":"1h"') ? '1h' : '5m';
  const cache = cached ? { cacheReadInputTokens: 7, cacheWriteInputTokens: 3, cacheDetails: [{ ttl, inputTokens: 3 }] } : {};
  const thinking = thinkingText();
  const reasoning = thinkingOn(body)
    ? [...(modelId.includes('redacted') ? [{ redactedContent: redactedData() }] : []), { reasoningText: { text: thinking, signature: sign(thinking) } }]
    : [];
  return {
    reasoning,
    text,
    toolUse,
    stopReason: toolUse ? 'tool_use' : 'end_turn',
    usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens + (cached ? 10 : 0), ...cache },
  };
}

function frame(headers: Record<string, string>, payload: object): Uint8Array {
  const typed = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, { type: 'string' as const, value }]));
  return codec.encode({ headers: typed, body: fromUtf8(JSON.stringify(payload)) });
}

/** An event frame; Bedrock pads payloads with a "p" member of varying length to hide their size. */
function event(type: string, payload: object): Uint8Array {
  const padding = 'abcdefghijklmnopqrstuvwxyz'.slice(0, 1 + Math.floor(Math.random() * 20));
  return frame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, { ...payload, p: padding });
}

async function stream(res: Response, body: ConverseBody, modelId: string): Promise<void> {
  const reply = answer(body, modelId);
  const frames: Uint8Array[] = [event('messageStart', { role: 'assistant' })];
  // Reasoning blocks first: the text of a signed one in pieces, then its signature; a redacted one whole.
  reply.reasoning.forEach((block, index) => {
    const deltas = block.reasoningText
      ? [{ text: block.reasoningText.text.slice(0, 9) }, { text: block.reasoningText.text.slice(9) }, { signature: block.reasoningText.signature }]
      : [{ redactedContent: block.redactedContent }];
    for (const reasoningContent of deltas) frames.push(event('contentBlockDelta', { contentBlockIndex: index, delta: { reasoningContent } }));
    frames.push(event('contentBlockStop', { contentBlockIndex: index }));
  });
  const textIndex = reply.reasoning.length;
  for (const word of reply.text.split(/(?<= )/)) frames.push(event('contentBlockDelta', { contentBlockIndex: textIndex, delta: { text: word } }));
  frames.push(event('contentBlockStop', { contentBlockIndex: textIndex }));
  if (reply.toolUse) {
    const { toolUseId, name, input } = reply.toolUse;
    const json = JSON.stringify(input);
    frames.push(event('contentBlockStart', { contentBlockIndex: textIndex + 1, start: { toolUse: { toolUseId, name } } }));
    for (const part of [json.slice(0, 8), json.slice(8)])
      frames.push(event('contentBlockDelta', { contentBlockIndex: textIndex + 1, delta: { toolUse: { input: part } } }));
    frames.push(event('contentBlockStop', { contentBlockIndex: textIndex + 1 }));
  }
  frames.push(event('messageStop', { stopReason: reply.stopReason }));
  frames.push(event('metadata', { usage: reply.usage, metrics: { latencyMs: 42 } }));

  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': randomUUID() });
  // The HTTP/1.1 and HTTP/2 responses write alike, but their overloads do not unite into one callable type.
  const out = res as { write(chunk: Uint8Array): boolean; end(chunk?: Uint8Array): void };
  if (modelId.startsWith('break-stream')) {
    out.write(frames[0]!);
    out.write(frames[1]!);
    setTimeout(() => drop(res), 20);
    return;
  }
  if (modelId.startsWith('stream-throttle')) {
    out.write(frames[0]!);
    out.write(frames[1]!);
    const exception = frame(
      { ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception' },
      { message: 'Too many requests, please wait before trying again.' },
    );
    out.end(exception);
    return;
  }
  // Each frame goes out in two writes a tick apart, so clients see frames split across chunks.
  for (const bytes of frames) {
    out.write(bytes.subarray(0, 7));
    await new Promise((resolve) => setImmediate(resolve));
    out.write(bytes.subarray(7));
  }
  out.end();
}

async function invoke(res: Response, body: InvokeBody, modelId: string, operation: 'invoke' | 'invoke-with-response-stream'): Promise<void> {
  const invalid = invalidInvoke(body, modelId);
  if (invalid) return sendError(res, 400, 'ValidationException', invalid);
  if (operation === 'invoke') return sendJson(res, 200, invokeAnswer(body, modelId));
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': randomUUID() });
  const out = res as { write(chunk: Uint8Array): boolean; end(chunk?: Uint8Array): void };
  for (const payload of invokeStreamEvents(body, modelId)) out.write(event('chunk', { bytes: Buffer.from(JSON.stringify(payload)).toString('base64') }));
  out.end();
}

/** Breaks the response off: the connection for HTTP/1.1, the stream (RST_STREAM) for HTTP/2. */
function drop(res: Response): void {
  if (res instanceof Http2ServerResponse) res.stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
  else res.socket?.destroy();
}

function sendJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  writeJson(res, status, body, { 'x-amzn-requestid': randomUUID(), ...headers });
}

function sendError(res: Response, status: number, type: string, message: string): void {
  // AWS sends the type with a namespace suffix that clients strip.
  const namespace = type.endsWith('ClientException') || type.includes('Signature') || type.includes('Authentication') ? 'coral.service' : 'bedrock';
  sendJson(res, status, { message }, { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.${namespace}/` });
}
