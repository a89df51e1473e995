import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaValidationError,
} from 'fastify';
import type { Bindings, ChildLoggerOptions, Level } from 'pino';
import { refusedValueError } from './db/storable.js';
import { asGatewayError, GatewayError } from './errors.js';
import { newRequestId } from './ids.js';
import type { Logger } from './log.js';
import { traceIdOf } from './tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body exactly as received, for a server that forwards it without re-serializing. */
    rawBody?: Buffer;
  }
}

/** Deepest nesting of a JSON body a server takes unless told otherwise. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

export interface HttpServerOptions {
  log: Logger;
  bodyLimit: number;
  trustProxy?: boolean;
  /** Deepest nesting of a JSON body: deeper bodies are refused before any code walks them (JSON.stringify recurses). */
  maxJsonDepth?: number;
  /** The error body for a request; the OpenAI shape unless a route says otherwise. */
  render?: (error: GatewayError, request: FastifyRequest) => unknown;
  /** Turns a failed body or header schema check into the error the client gets; by default the validator's words. */
  validationError?: (errors: FastifySchemaValidationError[], context: string, request: FastifyRequest) => GatewayError;
  /** Called with every error answer, before it is sent (to record it). */
  onError?: (error: GatewayError, request: FastifyRequest, reply: FastifyReply) => void;
  /** Called when a connection sent something that is not HTTP (it gets its error answer and is closed). */
  onClientError?: (error: GatewayError, client: { requestId: string; sourceAddress: string }) => void;
  /** Options for the JSON schema validator of route schemas (ajv). */
  ajv?: { customOptions?: Record<string, unknown> };
}

/**
 * A fastify instance whose every error (ours, fastify's body parsing and
 * validation, unknown routes, and what Node's HTTP parser refuses) goes out in
 * the OpenAI error shape with a request id.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const render = options.render ?? ((error: GatewayError) => error.toOpenAI());
  const maxDepth = options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: options.bodyLimit,
    trustProxy: options.trustProxy ?? false,
    // Request ids are made by the gateway, never taken from the client, so one id is one request.
    genReqId: newRequestId,
    childLoggerFactory: (logger, bindings, childOptions) =>
      childOptions.level ? logger.child(bindings, childOptions) : new RequestLogger(logger as Logger, bindings, childOptions),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    clientErrorHandler: (err, socket) => answerClientError(err, socket, options),
    // A URL the router cannot take (a malformed escape, a path parameter over 100 characters) never reaches a route or its hooks.
    frameworkErrors: (err, request, reply) => {
      const error = new GatewayError(
        'invalid_request',
        `The request URL cannot be read: ${err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is too long' : 'it is not a valid URL'}.`,
      );
      options.onClientError?.(error, { requestId: request.id, sourceAddress: request.ip });
      void (reply as FastifyReply).code(error.status).header('x-request-id', request.id).send(error.toOpenAI());
    },
    ...(options.ajv ? { ajv: options.ajv } : {}),
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  // JSON only: any other body (fastify would take text/plain as a string) gets 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const buffer = body as Buffer;
    request.rawBody = buffer;
    try {
      done(null, parseJson(buffer, maxDepth));
    } catch (err) {
      done(err as GatewayError, undefined);
    }
  });

  app.setErrorHandler((err: FastifyError | GatewayError, request, reply) => {
    const error = toGatewayError(err, request, options);
    // traceId: the request's trace, with traces on (none otherwise; its audit row has it either way).
    const traceId = traceIdOf(request.traceSpan);
    if (error.code === 'internal_error') request.log.error({ err, detail: error.detail, traceId }, 'request failed');
    else if (error.status >= 500)
      request.log.warn({ code: error.code, status: error.status, reason: error.message, detail: error.detail, traceId }, 'request failed');
    options.onError?.(error, request, reply);
    void reply.code(error.status).headers(error.headers).send(render(error, request));
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new GatewayError('not_found', `Unknown request URL: ${request.method} ${clip(request.url.split('?')[0]!, 200)}.`);
    options.onError?.(error, request, reply);
    void reply.code(error.status).send(render(error, request));
  });

  return app;
}

/**
 * JSON.parse, then one walk that refuses nesting deeper than maxDepth and
 * `__proto__` keys (which Object.assign would turn into a prototype). V8's
 * parser does not recurse, but JSON.stringify, structured clones and most
 * code that walks a value do, so a deep body would overflow their stack.
 */
export function parseJson(buffer: Buffer, maxDepth: number): unknown {
  let value: unknown;
  try {
    value = JSON.parse(buffer.toString('utf8'));
  } catch (err) {
    throw new GatewayError('invalid_json', `We could not parse the JSON body of your request: ${(err as Error).message}`);
  }
  checkJson(value, maxDepth, 0);
  return value;
}

function checkJson(value: unknown, maxDepth: number, depth: number): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth >= maxDepth) throw new GatewayError('invalid_json', `The JSON body nests deeper than ${maxDepth} levels, the most this gateway accepts.`);
  if (Array.isArray(value)) {
    for (const item of value) checkJson(item, maxDepth, depth + 1);
    return;
  }
  for (const key in value) {
    if (key === '__proto__') throw new GatewayError('invalid_json', 'The JSON body has a "__proto__" key, which this gateway does not accept.');
    checkJson((value as Record<string, unknown>)[key], maxDepth, depth + 1);
  }
}

/**
 * What Node's HTTP parser refused (a header block too large, broken chunked
 * encoding, an unknown method, a request that took too long to arrive) gets
 * an OpenAI-shaped error with a request id before the connection closes.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket, options: HttpServerOptions): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new GatewayError('request_too_large', 'The request headers are larger than this gateway accepts.', { status: 431 })
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new GatewayError('invalid_request', 'The request did not arrive in full in time.', { status: 408 })
        : new GatewayError('invalid_request', `The request is not valid HTTP/1.1 (${err.code ?? 'unreadable'}).`);
  const requestId = newRequestId();
  options.onClientError?.(error, { requestId, sourceAddress: socket.remoteAddress ?? '' });
  if (socket.writable) {
    const body = JSON.stringify(error.toOpenAI());
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * A request's logger that becomes a pino child (with the request id) only when
 * it first logs at an enabled level: most requests log nothing, and a child
 * serializes and redacts its bindings when made.
 */
class RequestLogger implements FastifyBaseLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return (this.made ?? this.parent).level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }

  error(...args: unknown[]): void {
    this.log('error', args);
  }

  warn(...args: unknown[]): void {
    this.log('warn', args);
  }

  info(...args: unknown[]): void {
    this.log('info', args);
  }

  debug(...args: unknown[]): void {
    this.log('debug', args);
  }

  trace(...args: unknown[]): void {
    this.log('trace', args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }

  private log(level: Level, args: unknown[]): void {
    if (!(this.made ?? this.parent).isLevelEnabled(level)) return;
    const logger = this.real();
    (logger[level] as (...a: unknown[]) => void).apply(logger, args);
  }

  private real(): Logger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }
}

function toGatewayError(err: FastifyError | GatewayError, request: FastifyRequest, options: HttpServerOptions): GatewayError {
  if (err instanceof GatewayError) return err;
  if ('validation' in err && err.validation) {
    return options.validationError?.(err.validation, err.validationContext ?? 'body', request) ?? new GatewayError('invalid_request', err.message);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('request_too_large', 'Request body is too large.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('unsupported_media_type', 'Unsupported Content-Type; send application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', 'Request body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GatewayError('invalid_json', `Request body is not valid JSON: ${err.message}`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('invalid_request', 'The Content-Length header does not match the body.');
  }
  const refused = refusedValueError(err);
  if (refused) return refused;
  if (err instanceof SyntaxError || err.statusCode === 400) {
    return new GatewayError('invalid_json', `Request body is not valid JSON: ${err.message}`);
  }
  return asGatewayError(err);
}

/** The first value of a request header, trimmed; undefined when absent or blank. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first ? first.trim() || undefined : undefined;
}

/**
 * The virtual key a client presented: `x-litellm-api-key` (clients of LiteLLM's
 * proxy), `Authorization: Bearer` (OpenAI clients), `x-api-key` (Anthropic
 * clients), `api-key` (Azure OpenAI clients) or `x-goog-api-key` (Google's Gemini clients).
 */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  // LiteLLM's own header first, as LiteLLM reads it: its clients send their virtual key there and may put another
  // token in Authorization (a provider SDK's), so an application moving from LiteLLM keeps its headers.
  return (
    headerValue(headers['x-litellm-api-key']) ??
    bearerToken(headerValue(headers.authorization)) ??
    headerValue(headers['x-api-key']) ??
    headerValue(headers['api-key']) ??
    headerValue(headers['x-goog-api-key'])
  );
}

/** Reads `Authorization: Bearer <token>` (or a bare token); undefined when absent. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  const token = (match ? match[1]! : header).trim();
  return token.length > 0 ? token : undefined;
}

/**
 * Stops accepting connections and waits for in-flight requests (streams
 * included). Keep-alive connections are closed as soon as their request ends,
 * instead of waiting for the client to drop them.
 */
export async function closeGracefully(app: FastifyInstance): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}
