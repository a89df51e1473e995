import { hostname as osHostname } from 'node:os';
import type { SecretLookup } from '../../kit/secrets/store.js';
import type { SplunkSinkConfig } from './config.js';
import { bodyExcerpt, HttpPoster, recordValue } from './http.js';
import { RefusedByReceiver } from './refused.js';
import type { Delivery, Sink } from './sink.js';

/** HEC codes that refuse an event for what it holds (invalid data format, event missing, event blank), naming it. */
const REFUSED_EVENT_CODES = new Set([6, 12, 13]);

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
  private readonly http: HttpPoster;
  private readonly host: string;

  constructor(
    private readonly config: SplunkSinkConfig,
    private readonly secrets: SecretLookup,
  ) {
    this.http = new HttpPoster('Splunk HEC', `${config.url.replace(/\/+$/, '')}/services/collector/event`, config.timeoutMs, config.rejectUnauthorized);
    this.host = config.host || osHostname();
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
    const { status, text } = await this.http.post({ authorization: `Splunk ${this.secrets.get(this.config.token).value}` }, body);
    let reply: { text?: unknown; code?: unknown; 'invalid-event-number'?: unknown } = {};
    try {
      reply = (JSON.parse(text) as typeof reply | null) ?? {};
    } catch {
      // not JSON (a proxy's error page); reported by status below
    }
    if (status === 200 && reply.code === 0) return;
    const message = this.http.answered(status, typeof reply.text === 'string' ? `${reply.text} (code ${String(reply.code)})` : bodyExcerpt(text));
    if (status === 413) throw new RefusedByReceiver(message);
    if (status === 400 && REFUSED_EVENT_CODES.has(reply.code as number)) {
      const at = reply['invalid-event-number'];
      throw new RefusedByReceiver(message, typeof at === 'number' ? at : undefined);
    }
    throw new Error(message);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
