/**
 * A fast fake of the OpenAI Chat Completions API for the benchmark:
 * POST /v1/chat/completions answers a chat.completion with a usage block, or,
 * with "stream": true, chat.completion.chunk events (a role chunk, `chunks`
 * content chunks `chunkIntervalMs` apart, a finish chunk, a usage chunk when
 * stream_options.include_usage is set) and `data: [DONE]`. Answers are built
 * once at start, so the fake costs as little as possible per request.
 *
 * Run by the benchmark as a child process: `node --import tsx upstream.ts '<options JSON>'`
 * prints nothing and sends `{ port }` to its parent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface UpstreamOptions {
  /** Delay before answering (before the first chunk when streaming). */
  latencyMs: number;
  /** Approximate size of the answer's content, in bytes. */
  responseBytes: number;
  /** Content chunks of a streamed answer. */
  chunks: number;
  /** Delay between streamed chunks. */
  chunkIntervalMs: number;
}

/** Streams last chunks × chunkIntervalMs: 5 s, so that all of 1,000 streams are open at once even through a slow gateway. */
export const DEFAULT_UPSTREAM: UpstreamOptions = { latencyMs: 0, responseBytes: 200, chunks: 25, chunkIntervalMs: 200 };

const MODEL = 'gpt-4o-mini';
const CREATED = 1_700_000_000;

/** The content of the n-th streamed chunk: "w<n> ", so a client can tell which chunks it received. */
export function chunkText(n: number): string {
  return `w${n} `;
}

function usage(completionTokens: number) {
  return {
    prompt_tokens: 12,
    completion_tokens: completionTokens,
    total_tokens: 12 + completionTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

function answers(options: UpstreamOptions) {
  const content = 'lorem ipsum '.repeat(Math.ceil(options.responseBytes / 12)).slice(0, options.responseBytes);
  const completion = Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion',
      created: CREATED,
      model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: usage(Math.ceil(options.responseBytes / 4)),
      system_fingerprint: 'fp_bench',
    }),
  );
  const event = (body: object) => Buffer.from(`data: ${JSON.stringify(body)}\n\n`);
  const base = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: CREATED, model: MODEL, system_fingerprint: 'fp_bench' };
  const chunk = (delta: object, finish: string | null, withUsage: boolean) =>
    event({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) });
  const stream = (withUsage: boolean) => ({
    first: chunk({ role: 'assistant', content: '', refusal: null }, null, withUsage),
    content: Array.from({ length: options.chunks }, (_, i) => chunk({ content: chunkText(i) }, null, withUsage)),
    last: Buffer.concat([
      chunk({}, 'stop', withUsage),
      ...(withUsage ? [event({ ...base, choices: [], usage: usage(options.chunks) })] : []),
      Buffer.from('data: [DONE]\n\n'),
    ]),
  });
  return { completion, withUsage: stream(true), withoutUsage: stream(false) };
}

export function createUpstream(options: UpstreamOptions) {
  const { completion, withUsage, withoutUsage } = answers(options);
  const later = (ms: number, fn: () => void) => (ms > 0 ? setTimeout(fn, ms) : fn());

  function stream(res: ServerResponse, events: typeof withUsage): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(events.first);
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      if (i < events.content.length) {
        res.write(events.content[i++]);
        later(options.chunkIntervalMs, next);
      } else res.end(events.last);
    };
    later(options.chunkIntervalMs, next);
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found","type":"invalid_request_error","code":null}}');
      return;
    }
    let body: { stream?: boolean; stream_options?: { include_usage?: boolean } };
    try {
      body = JSON.parse(raw.toString('utf8')) as typeof body;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json","type":"invalid_request_error","code":null}}');
      return;
    }
    later(options.latencyMs, () => {
      if (body.stream === true) stream(res, body.stream_options?.include_usage ? withUsage : withoutUsage);
      else res.writeHead(200, { 'content-type': 'application/json', 'content-length': completion.length }).end(completion);
    });
  }

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => handle(req, res, parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  return server;
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = { ...DEFAULT_UPSTREAM, ...(JSON.parse(process.argv[2] ?? '{}') as Partial<UpstreamOptions>) };
  const server = createUpstream(options);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
