import { hostname as osHostname } from 'node:os';
import { Agent, request } from 'undici';
import type { SecretLookup } from '../../kit/secrets/store.js';
import type { SplunkSinkConfig } from './config.js';
import type { Delivery, Sink } from './index.js';
import { RefusedByReceiver } from './refused.js';

/** HEC codes that refuse an event for what it holds (invalid data format, event missing, event blank), naming it. */
const REFUSED_EVENT_CODES = new Set([6, 12, 13]);

/** The URL for messages: scheme, host and path, never credentials or a query that might hold one. */
export function safeUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** The start of an answer's body for a message, on one line (it may be an HTML or XML page). */
export const bodyExcerpt = (text: string): string => text.replace(/\s+/g, ' ').trim().slice(0, 200);

/** The record as the payload's `event`: JSON records as objects (searchable fields), CEF as the line itself. */
export function recordValue(format: string, record: string): unknown {
  return format === 'cef' ? record : (JSON.parse(record) as unknown);
}

/**
 * Splunk HTTP Event Collector (POST <url>/services/collector/event). A batch
 * is one request whose body is the events' JSON envelopes one after another;
 * HEC takes it whole or answers an error. Only 200 with code 0 counts as
 * delivered. A batch larger than HEC's max_content_length (413) or holding an
 * event HEC refuses (400 with the event's position) is refused for what it
 * holds; anything else (503 "Server is busy", a refused token) throws, and the
 * bus retries the same batch with backoff. Indexer acknowledgement (useACK) is
 * not used: the token must have it off.
 */
export class SplunkSink implements Sink {
  private readonly endpoint: string;
  private readonly agent: Agent;
  private readonly host: string;

  constructor(
    private readonly config: SplunkSinkConfig,
    private readonly secrets: SecretLookup,
  ) {
    this.endpoint = `${config.url.replace(/\/+$/, '')}/services/collector/event`;
    this.host = config.host || osHostname();
    this.agent = new Agent({
      connect: { rejectUnauthorized: config.rejectUnauthorized, timeout: config.timeoutMs },
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
  }

  envelope({ event, record }: Delivery): string {
    const ms = event.time?.getTime() ?? Date.now();
    return JSON.stringify({
      time: Number((ms / 1000).toFixed(3)),
      host: this.host,
      source: this.config.source,
      sourcetype: this.config.sourcetype,
      index: this.config.index,
      event: recordValue(this.config.format, record),
    });
  }

  async deliver(batch: readonly Delivery[]): Promise<void> {
    const body = batch.map((d) => this.envelope(d)).join('\n');
    const where = safeUrl(this.endpoint);
    let response;
    try {
      response = await request(this.endpoint, {
        method: 'POST',
        headers: { authorization: `Splunk ${this.secrets.get(this.config.token).value}`, 'content-type': 'application/json' },
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
    } catch (err) {
      throw new Error(`Splunk HEC ${where} cannot be reached: ${(err as Error).message}`, { cause: err });
    }
    const text = await response.body.text().catch(() => '');
    let reply: { text?: unknown; code?: unknown; 'invalid-event-number'?: unknown } = {};
    try {
      reply = (JSON.parse(text) as typeof reply | null) ?? {};
    } catch {
      // not JSON (a proxy's error page); reported by status below
    }
    if (response.statusCode === 200 && reply.code === 0) return;
    const detail = typeof reply.text === 'string' ? `${reply.text} (code ${String(reply.code)})` : bodyExcerpt(text);
    const message = `Splunk HEC ${where} answered ${response.statusCode}: ${detail}`;
    if (response.statusCode === 413) throw new RefusedByReceiver(message);
    if (response.statusCode === 400 && REFUSED_EVENT_CODES.has(reply.code as number)) {
      const at = reply['invalid-event-number'];
      throw new RefusedByReceiver(message, typeof at === 'number' ? at : undefined);
    }
    throw new Error(message);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
