import { Agent, type Dispatcher, request } from 'undici';
import type { SinkFormat } from './config.js';

/** The URL for messages: scheme, host and path, never credentials or a query that might hold one. */
export function safeUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** The start of an answer's body for a message, on one line (it may be an HTML or XML page). */
export const bodyExcerpt = (text: string): string => text.replace(/\s+/g, ' ').trim().slice(0, 200);

/** The record as a JSON value: JSON records as objects (searchable fields), CEF as the line itself. */
export function recordValue(format: SinkFormat, record: string): unknown {
  return format === 'cef' ? record : (JSON.parse(record) as unknown);
}

export interface HttpAnswer {
  status: number;
  /** The whole body, read either way so the connection can be reused ('' if it could not be read). */
  text: string;
}

/**
 * The HTTP delivery the Splunk and webhook sinks share: one JSON POST per
 * batch to one URL, on a connection pool of its own, with every phase bounded
 * by timeoutMs. Failing to reach the receiver throws (the bus retries the
 * batch); what an answer means is the sink's to judge.
 */
export class HttpPoster {
  /** The URL as messages show it (safeUrl). */
  readonly where: string;
  private readonly agent: Agent;

  constructor(
    /** What the receiver is, for messages: "Splunk HEC", "webhook". */
    readonly what: string,
    private readonly url: string,
    private readonly timeoutMs: number,
    rejectUnauthorized = true,
  ) {
    this.where = safeUrl(url);
    this.agent = new Agent({ connect: { rejectUnauthorized, timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  async post(headers: Record<string, string>, body: string): Promise<HttpAnswer> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new Error(`${this.what} ${this.where} cannot be reached: ${(err as Error).message}`, { cause: err });
    }
    return { status: response.statusCode, text: await response.body.text().catch(() => '') };
  }

  /** "<what> <url> answered <status>: <detail>", for an answer that is not a delivery. */
  answered(status: number, detail: string): string {
    return `${this.what} ${this.where} answered ${status}${detail ? `: ${detail}` : ''}`;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
