import { FormData, Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { GatewayError } from '../../kit/errors.js';
import { readSse, type SseEvent } from '../sse.js';
import { NEVER_ABORTED, ProviderError, retryAfterMs, type CallCounts, type Connection, type FailureKind, type RawAnswer } from './types.js';

export interface UpstreamRequest {
  /** Path and query, appended to the base URL's path. */
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** JSON (serialized here), a string, or a FormData sent as multipart. */
  body?: unknown;
  signal: AbortSignal;
}

/** Turns a provider's error response into a ProviderError; adapters pass their own when the provider's errors differ. */
export type ErrorClassifier = (status: number, body: string, headers: Record<string, string | string[] | undefined>) => ProviderError;

/**
 * HTTP to one provider: a keep-alive undici pool per origin (TLS verified),
 * the timeouts from config, and every failure turned into a ProviderError the
 * router understands. Base URLs come from config or the admin API, never from a
 * request; redirects are not followed (undici's Pool follows none), so an answer
 * can never send the call, and its credential, to another address.
 */
export class Upstream {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    readonly provider: string,
    baseUrl: string,
    private readonly connection: Connection,
    private readonly classify: ErrorClassifier = openAIErrorClassifier(provider),
    /** A cap an operator chose; undefined: as many keep-alive connections as calls in flight. */
    maxConnections?: number,
  ) {
    const url = new URL(baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: maxConnections ?? null,
      connect: { timeout: connection.connectMs, ...(connection.lookup ? { lookup: connection.lookup } : {}) },
      headersTimeout: connection.firstByteMs,
      bodyTimeout: connection.idleMs,
      keepAliveTimeout: 30_000,
    });
  }

  /** Sends the request and returns the response once its status is 2xx; the call, body included, ends within totalMs. */
  async send(request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    // Serialized before the call: a body that cannot be (nested too deep) is the request's fault, not a network failure.
    // A form goes as multipart, its boundary in the content type undici sets.
    const form = request.body instanceof FormData ? request.body : undefined;
    const body = form ?? (request.body === undefined || typeof request.body === 'string' ? request.body : JSON.stringify(request.body));
    const deadline = withDeadline(request.signal, this.connection.totalMs);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        path: `${this.basePath}${request.path}`,
        method: request.method ?? 'POST',
        headers: { ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}), ...request.headers },
        body,
        signal: deadline.signal,
      });
    } catch (err) {
      deadline.release();
      throw networkError(err, this.provider);
    }
    // Read whole or destroyed, the body closes: the deadline has nothing left to guard.
    response.body.once('close', deadline.release);
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const text = await response.body.text().catch(() => '');
    throw this.classify(response.statusCode, text, response.headers);
  }

  /**
   * A JSON answer, read by `read` into what the adapter returns. Whatever reading throws, other than a
   * ProviderError, means the answer lacks what the provider's API documents (see readAnswer).
   */
  async json<Body, T>(request: UpstreamRequest, read: (body: Body) => T): Promise<T> {
    const response = await this.send(request);
    let body: Body;
    try {
      body = (await response.body.json()) as Body;
    } catch (err) {
      throw networkError(err, this.provider, `Provider ${this.provider} returned a body that is not JSON.`);
    }
    return readAnswer(this.provider, () => read(body));
  }

  /** An answer passed on as the provider sent it (audio, a transcript as text): its bytes and media type. */
  async raw(request: UpstreamRequest): Promise<RawAnswer> {
    const response = await this.send(request);
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await response.body.arrayBuffer());
    } catch (err) {
      throw networkError(err, this.provider);
    }
    const type = response.headers['content-type'];
    return { bytes, contentType: typeof type === 'string' ? type : 'application/octet-stream' };
  }

  /** A streamed answer (the body's bytes), read by `read` into the adapter's items, as json() reads a whole one. */
  async stream<T>(request: UpstreamRequest, read: (body: AsyncIterable<Buffer>) => AsyncIterable<T>): Promise<AsyncIterable<T>> {
    const response = await this.send(request);
    return readingAnswer(read(response.body), this.provider);
  }

  /** Server-sent events of a 2xx response, read by `read`; errors reading the connection become ProviderErrors. */
  sse<T>(request: UpstreamRequest, read: (events: AsyncIterable<SseEvent>) => AsyncIterable<T>): Promise<AsyncIterable<T>> {
    return this.stream({ ...request, headers: { accept: 'text/event-stream', ...request.headers } }, (body) => read(guard(readSse(body), this.provider)));
  }

  callCounts(): CallCounts {
    const { running, queued } = this.pool.stats;
    return { running, queued };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * A signal that aborts when `parent` does, or with a TimeoutError after `ms`,
 * until released: AbortSignal.any over AbortSignal.timeout, with one
 * controller and one timer instead of signals for the GC to finalize.
 */
function withDeadline(parent: AbortSignal, ms: number): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  if (parent.aborted) controller.abort(parent.reason);
  const follow = () => controller.abort(parent.reason);
  const listens = parent !== NEVER_ABORTED && !parent.aborted;
  if (listens) parent.addEventListener('abort', follow, { once: true });
  const timer = setTimeout(() => controller.abort(new DOMException(`The call did not end within ${ms} ms.`, 'TimeoutError')), ms);
  // As AbortSignal.timeout's: a call left unread does not keep the process alive.
  timer.unref();
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      if (listens) parent.removeEventListener('abort', follow);
    },
  };
}

async function* guard<T>(source: AsyncIterable<T>, provider: string): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    throw networkError(err, provider);
  }
}

/**
 * Thrown while reading a provider's answer that lacks a field its API documents, naming it; readAnswer
 * passes the description on.
 */
export class MalformedAnswer extends Error {}

/**
 * Runs an adapter's reading of a provider's answer. Anything it throws but a ProviderError (a TypeError
 * from a missing field, a MalformedAnswer) is the provider's fault: a clean upstream_error, retried and
 * counted toward the deployment's circuit like a 5xx, never a JavaScript message for the client.
 */
export function readAnswer<T>(provider: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw unreadable(err, provider);
  }
}

/** readAnswer for an answer read as it streams. */
export async function* readingAnswer<T>(items: AsyncIterable<T>, provider: string): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (err) {
    throw unreadable(err, provider);
  }
}

function unreadable(err: unknown, provider: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const detail = err instanceof MalformedAnswer ? ` (${err.message})` : '';
  return new ProviderError(
    'server',
    provider,
    `Provider ${provider} sent an answer that could not be read${detail}: it does not have the shape its API documents.`,
    { cause: err },
  );
}

/** A failure to talk to the provider at all, or a stream that broke. */
export function networkError(err: unknown, provider: string, message?: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const timeout = (kind: string) => new ProviderError('timeout', provider, `${kind} provider ${provider} timed out.`, { cause: err });
  if (err instanceof undiciErrors.ConnectTimeoutError) return timeout('Connecting to');
  if (err instanceof undiciErrors.HeadersTimeoutError) return timeout('Waiting for the first byte from');
  if (err instanceof undiciErrors.BodyTimeoutError) return timeout('Reading from');
  if (err instanceof Error && (err.name === 'TimeoutError' || (err.name === 'AbortError' && String(err.cause ?? '').includes('TimeoutError')))) {
    return timeout('The call to');
  }
  if (err instanceof Error && err.name === 'AbortError')
    return new ProviderError('network', provider, `The call to provider ${provider} was cancelled.`, { cause: err });
  // The reason names the provider's address, which may be one inside the company's network: for the record, not the client.
  return new ProviderError('network', provider, message ?? `Provider ${provider} is unreachable.`, {
    cause: err,
    detail: err instanceof Error ? err.message : String(err),
  });
}

export function clip(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const CONTEXT_WINDOW = /context[_ ]length|context window|maximum context|too many tokens|prompt is too long|input is too long|exceeds? the (?:maximum|max)/i;
const CONTENT_POLICY = /content[_ ]?(?:management )?(?:policy|filter)|safety system|flagged|responsible ?ai/i;

/**
 * Classifies an error response by status and, for 400s, by code and message:
 * the OpenAI error body ({"error": {"message", "type", "code"}}) and most
 * compatible providers' bodies fit. A 401 or 403 means the gateway's own
 * credential was refused: the provider's text may quote part of the key, so
 * it is not passed on. A redirect (3xx) is the provider's fault.
 */
export function classifyStatus(
  provider: string,
  status: number,
  detail: { message: string; code?: string; type?: string },
  headers: Record<string, string | string[] | undefined>,
): ProviderError {
  const options = { upstreamStatus: status, retryAfterMs: retryAfterMs(headers) };
  const said = detail.message ? `: ${clip(detail.message)}` : '';
  const signals = `${detail.code ?? ''} ${detail.type ?? ''} ${detail.message}`;
  let kind: FailureKind;
  if (status < 400) {
    // Not followed (see Upstream): the provider is misconfigured or not the API it claims to be. Where it pointed
    // may be an internal address, so the Location is not quoted.
    return new ProviderError('server', provider, `Provider ${provider} answered with a redirect (HTTP ${status}), which the gateway does not follow.`, options);
  } else if (status === 401 || status === 403) {
    return new ProviderError(
      'auth',
      provider,
      `Provider ${provider} refused the gateway's credentials (HTTP ${status}); an admin must fix the provider key.`,
      options,
    );
  } else if (status === 402) kind = 'payment';
  else if (status === 429) kind = 'rate_limit';
  else if (status === 408) kind = 'timeout';
  else if (status >= 500) kind = 'server';
  else if (CONTEXT_WINDOW.test(signals)) kind = 'context_window';
  else if (CONTENT_POLICY.test(signals)) kind = 'content_policy';
  else kind = 'bad_request';
  const what =
    kind === 'bad_request' || kind === 'context_window' || kind === 'content_policy'
      ? `Provider ${provider} rejected the request (HTTP ${status})`
      : kind === 'rate_limit'
        ? `Provider ${provider} is rate limiting requests (HTTP 429)`
        : `Provider ${provider} failed (HTTP ${status})`;
  return new ProviderError(kind, provider, `${what}${said}`, options);
}

export function openAIErrorClassifier(provider: string): ErrorClassifier {
  return (status, body, headers) => classifyStatus(provider, status, errorDetail(body), headers);
}

type ErrorFields = { message?: unknown; detail?: unknown; code?: unknown; type?: unknown; error?: unknown };

/**
 * What an OpenAI-compatible server's error body says, in each server's shape:
 *   {"error": {"message", "type", "code"}}              OpenAI, Groq, DeepSeek, Together, Fireworks, Ollama, vLLM ≥ 0.10.1
 *   {"error": {"code": 400, "message", "metadata"}}      OpenRouter (a numeric code)
 *   {"object": "error", "message", "type", "code"}       Mistral, earlier vLLM; Mistral's 422 has a message of
 *                                                        validation details ({"detail": [{"loc", "msg"}]} or the list)
 *   {"code": "Client specified…", "error": "Argument…"}  xAI
 */
function errorDetail(body: string): { message: string; code?: string; type?: string } {
  let parsed: ErrorFields;
  try {
    parsed = JSON.parse(body) as ErrorFields;
  } catch {
    return { message: '' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { message: '' };
  const fields: ErrorFields = typeof parsed.error === 'object' && parsed.error !== null ? (parsed.error as ErrorFields) : parsed;
  const message = typeof parsed.error === 'string' ? parsed.error : readable(fields.message ?? fields.detail);
  const text = (value: unknown) => (typeof value === 'string' || typeof value === 'number' ? String(value) : undefined);
  return { message, code: text(fields.code), type: text(fields.type) };
}

/** A message, or validation details ("body.logit_bias: Extra inputs are not permitted") made into one. */
function readable(message: unknown): string {
  if (typeof message === 'string') return message;
  const details = Array.isArray(message) ? message : (message as { detail?: unknown } | null)?.detail;
  if (!Array.isArray(details)) return '';
  return details
    .map((d: { loc?: unknown[]; msg?: unknown }) =>
      [Array.isArray(d?.loc) ? d.loc.join('.') : '', typeof d?.msg === 'string' ? d.msg : ''].filter(Boolean).join(': '),
    )
    .join('; ');
}
