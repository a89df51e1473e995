import { Pool, errors as undiciErrors } from 'undici';
import { GatewayError } from '../../kit/errors.js';
import type { OpenAICompatibleProviderConfig, RoutingConfig } from '../config.js';
import { readSseData } from '../sse.js';
import { EMPTY_USAGE, usageFromOpenAI, type ChatRequest, type Completion, type Provider, type ProviderCall, type StreamPiece } from './types.js';

/**
 * Any provider that speaks the OpenAI chat completions API (OpenAI itself,
 * vLLM, Ollama, Groq, Together, ...). One keep-alive pool per provider; TLS is
 * verified.
 */
export class OpenAICompatibleProvider implements Provider {
  readonly models: readonly string[];
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    readonly name: string,
    private readonly config: OpenAICompatibleProviderConfig,
    private readonly timeouts: RoutingConfig['timeouts'],
  ) {
    this.models = config.models;
    const url = new URL(config.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: config.maxConnections,
      connect: { timeout: timeouts.connectMs },
      headersTimeout: timeouts.firstByteMs,
      bodyTimeout: timeouts.idleMs,
      keepAliveTimeout: 30_000,
    });
  }

  async complete(call: ProviderCall): Promise<Completion> {
    const response = await this.send({ ...call.request, stream: false }, call.signal);
    const body = Buffer.from(await response.body.arrayBuffer());
    let usage = EMPTY_USAGE;
    try {
      usage = usageFromOpenAI((JSON.parse(body.toString('utf8')) as { usage?: unknown }).usage) ?? EMPTY_USAGE;
    } catch {
      throw new GatewayError('upstream_error', `Provider ${this.name} returned a response that is not JSON.`);
    }
    return { body, usage };
  }

  async stream(call: ProviderCall): Promise<AsyncIterable<StreamPiece>> {
    // Usage is always requested so metering sees it; routing hides it from clients that did not ask.
    const request = { ...call.request, stream: true, stream_options: { ...call.request.stream_options, include_usage: true } };
    const response = await this.send(request, call.signal);
    return this.pieces(response.body);
  }

  private async *pieces(body: AsyncIterable<Buffer>): AsyncGenerator<StreamPiece> {
    try {
      for await (const data of readSseData(body)) {
        if (data === '[DONE]') return;
        let parsed: { usage?: unknown; choices?: unknown[]; error?: { message?: string } };
        try {
          parsed = JSON.parse(data) as typeof parsed;
        } catch {
          throw new GatewayError('upstream_error', `Provider ${this.name} sent a stream event that is not JSON.`);
        }
        if (parsed.error) throw new GatewayError('upstream_error', `Provider ${this.name} failed mid-stream: ${clip(parsed.error.message ?? 'unknown error')}`);
        const usage = usageFromOpenAI(parsed.usage);
        yield { data, usage, usageOnly: usage !== undefined && Array.isArray(parsed.choices) && parsed.choices.length === 0 };
      }
    } catch (err) {
      throw toGatewayError(err, this.name);
    }
  }

  private async send(request: ChatRequest, clientSignal: AbortSignal) {
    const signal = AbortSignal.any([clientSignal, AbortSignal.timeout(this.timeouts.totalMs)]);
    let response;
    try {
      response = await this.pool.request({
        path: `${this.basePath}/chat/completions`,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: request.stream ? 'text/event-stream' : 'application/json',
          ...(this.config.apiKey ? { authorization: `Bearer ${this.config.apiKey}` } : {}),
        },
        body: JSON.stringify(request),
        signal,
      });
    } catch (err) {
      throw toGatewayError(err, this.name);
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const text = await response.body.text().catch(() => '');
    throw upstreamStatusError(this.name, response.statusCode, text);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function clip(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/**
 * Maps a provider's error status for the client. The client's request was at
 * fault for most 4xx, so those pass through with the provider's message; a 401
 * or 403 means the gateway's own credential was refused, which the client can't
 * fix, and the provider's message may quote part of that credential, so it is
 * not passed on.
 */
export function upstreamStatusError(provider: string, status: number, body: string): GatewayError {
  if (status === 401 || status === 403) {
    return new GatewayError('upstream_error', `Provider ${provider} refused the gateway's credentials (HTTP ${status}); an admin must fix the provider key.`, { status: 502 });
  }
  let message = '';
  try {
    message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? '';
  } catch {
    message = '';
  }
  const detail = message ? `: ${clip(message)}` : '';
  if (status === 429) return new GatewayError('rate_limit_exceeded', `Provider ${provider} is rate limiting requests${detail}`);
  if (status >= 400 && status < 500) return new GatewayError('upstream_error', `Provider ${provider} rejected the request (HTTP ${status})${detail}`, { status });
  return new GatewayError('upstream_error', `Provider ${provider} failed (HTTP ${status})${detail}`, { status: 502 });
}

function toGatewayError(err: unknown, provider: string): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof undiciErrors.ConnectTimeoutError) return new GatewayError('upstream_timeout', `Connecting to provider ${provider} timed out.`);
  if (err instanceof undiciErrors.HeadersTimeoutError) return new GatewayError('upstream_timeout', `Provider ${provider} did not start answering in time.`);
  if (err instanceof undiciErrors.BodyTimeoutError) return new GatewayError('upstream_timeout', `Provider ${provider} stopped sending data.`);
  if (err instanceof Error && (err.name === 'TimeoutError' || (err.name === 'AbortError' && String(err.cause ?? '').includes('TimeoutError')))) {
    return new GatewayError('upstream_timeout', `Provider ${provider} did not finish in time.`);
  }
  if (err instanceof Error && err.name === 'AbortError') return new GatewayError('upstream_error', `Call to provider ${provider} was cancelled.`);
  return new GatewayError('upstream_unreachable', `Provider ${provider} is unreachable: ${(err as Error).message}`, { cause: err });
}
