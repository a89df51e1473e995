import { createHmac } from 'node:crypto';
import type { SecretLookup } from '../../kit/secrets/store.js';
import type { SinkFormat, WebhookSinkConfig } from './config.js';
import { bodyExcerpt, HttpPoster, recordValue } from './http.js';
import { RefusedByReceiver } from './refused.js';
import type { Delivery, Sink } from './sink.js';

/** Answers that refuse what a batch holds: malformed for the receiver, too large, or events it cannot process. */
const REFUSED_CONTENT = new Set([400, 413, 422]);

/**
 * The signature a receiver checks:
 *
 *   x-gateway-timestamp: <unix seconds when the request was signed>
 *   x-gateway-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * To verify, take the raw request body (before any JSON parsing), compute the
 * HMAC with the shared secret over the timestamp header, a dot and the body,
 * and compare it with the header's hex in constant time. Signing the timestamp
 * lets the receiver refuse replays: drop requests whose timestamp is more than
 * a few minutes from its clock (and, to be strict, remember the signatures it
 * accepted within that window). A retried batch is signed again with a new
 * timestamp and carries the same events, so receivers dedupe by event id.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** The request body: `{"events": [...]}`, each record as JSON (or the CEF line). */
export function webhookBody(format: SinkFormat, batch: readonly Delivery[]): string {
  return JSON.stringify({ events: batch.map(({ record }) => recordValue(format, record)) });
}

/**
 * POSTs each batch as `{"events": [...]}`, signed. 2xx counts as delivered;
 * 400, 413 and 422 refuse what the batch holds; any other answer, or none
 * within timeoutMs, throws, and the bus retries the same batch.
 */
export class WebhookSink implements Sink {
  private readonly http: HttpPoster;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly secrets: SecretLookup,
  ) {
    this.http = new HttpPoster('webhook', config.url, config.timeoutMs);
  }

  async deliver(batch: readonly Delivery[]): Promise<void> {
    const body = webhookBody(this.config.format, batch);
    const timestamp = Math.floor(Date.now() / 1000);
    const extra = Object.fromEntries(Object.entries(this.config.headers).map(([name, value]) => [name.toLowerCase(), this.secrets.get(value).value]));
    // The signature headers come last so configured headers cannot replace them.
    const { status, text } = await this.http.post(
      { ...extra, 'x-gateway-timestamp': String(timestamp), 'x-gateway-signature': signWebhook(this.secrets.get(this.config.secret).value, timestamp, body) },
      body,
    );
    if (status >= 200 && status < 300) return;
    const message = this.http.answered(status, bodyExcerpt(text));
    throw REFUSED_CONTENT.has(status) ? new RefusedByReceiver(message) : new Error(message);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
