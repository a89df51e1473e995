import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';
import type { SecretLookup } from '../../kit/secrets/store.js';
import type { SinkFormat, WebhookSinkConfig } from './config.js';
import type { Delivery, Sink } from './index.js';
import { RefusedByReceiver } from './refused.js';
import { bodyExcerpt, recordValue, safeUrl } from './splunk.js';

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
  private readonly agent: Agent;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly secrets: SecretLookup,
  ) {
    this.agent = new Agent({ connect: { timeout: config.timeoutMs }, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs });
  }

  async deliver(batch: readonly Delivery[]): Promise<void> {
    const body = webhookBody(this.config.format, batch);
    const timestamp = Math.floor(Date.now() / 1000);
    const extra = Object.fromEntries(Object.entries(this.config.headers).map(([name, value]) => [name.toLowerCase(), this.secrets.get(value).value]));
    const where = safeUrl(this.config.url);
    let response;
    try {
      response = await request(this.config.url, {
        method: 'POST',
        // The signature headers come last so configured headers cannot replace them.
        headers: {
          ...extra,
          'content-type': 'application/json',
          'x-gateway-timestamp': String(timestamp),
          'x-gateway-signature': signWebhook(this.secrets.get(this.config.secret).value, timestamp, body),
        },
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
    } catch (err) {
      throw new Error(`webhook ${where} cannot be reached: ${(err as Error).message}`, { cause: err });
    }
    // Read the body either way, so the connection can be reused.
    const text = await response.body.text().catch(() => '');
    if (response.statusCode >= 200 && response.statusCode < 300) return;
    const message = `webhook ${where} answered ${response.statusCode}${text ? `: ${bodyExcerpt(text)}` : ''}`;
    throw REFUSED_CONTENT.has(response.statusCode) ? new RefusedByReceiver(message) : new Error(message);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
