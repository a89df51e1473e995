import type { ServerResponse } from 'node:http';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import type { StreamData } from '../gen/gateway/v1/routing.js';
import { streamErrorEvent } from '../kit/api-errors.js';
import { asGatewayError } from '../kit/errors.js';

const eventStream = new EventStreamCodec(toUtf8, fromUtf8);

/**
 * One event as AWS's binary event stream frames it (Bedrock's streams): a member of the stream's union by name, its
 * JSON payload the data; members named `…Exception` are the union's exceptions, framed as such for the AWS SDK to raise.
 */
function eventStreamFrame(name: string, data: Buffer | string): Uint8Array {
  const exception = name.endsWith('Exception');
  const headers = Object.fromEntries(
    Object.entries({
      ':message-type': exception ? 'exception' : 'event',
      [exception ? ':exception-type' : ':event-type']: name,
      ':content-type': 'application/json',
    }).map(([header, value]) => [header, { type: 'string' as const, value }]),
  );
  const body = typeof data === 'string' ? fromUtf8(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return eventStream.encode({ headers, body });
}

/** Writes a stream's events to a client, waiting when its socket buffer is full: as server-sent events, or in AWS's event stream. */
export class SseWriter {
  /** The events that complete the answer, held until the request is on record. */
  private readonly held: StreamData[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly framing: 'sse' | 'eventstream' = 'sse',
  ) {}

  start(headers: Record<string, string>): void {
    this.res.writeHead(200, {
      ...headers,
      'content-type': this.framing === 'eventstream' ? 'application/vnd.amazon.eventstream' : 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
  }

  /** Resolves once the event is handed to the socket (or the client has gone). */
  async event(name: string, data: Buffer | string): Promise<void> {
    if (this.res.destroyed) return;
    const bytes = this.framing === 'eventstream' ? eventStreamFrame(name, data) : `${name ? `event: ${name}\n` : ''}data: ${data.toString()}\n\n`;
    const ok = this.res.write(bytes);
    if (!ok && !this.res.destroyed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.res.off('drain', done);
          this.res.off('close', done);
          resolve();
        };
        this.res.on('drain', done);
        this.res.on('close', done);
      });
    }
  }

  /** Writes a stream's event from routing; from the first that completes the answer (final) on, they wait for complete(). */
  async data(data: StreamData): Promise<void> {
    if (data.final || this.held.length > 0) this.held.push(data);
    else await this.event(data.event, data.data);
  }

  /**
   * Ends the stream once the request's record is durable (`recorded`): with the events held back, which
   * complete the client's answer, or, if it could not be recorded, with an error event instead.
   */
  async complete(recorded: Promise<void>, endpoint: string): Promise<void> {
    try {
      await recorded;
      for (const data of this.held.splice(0)) await this.event(data.event, data.data);
    } catch (err) {
      const event = streamErrorEvent(endpoint, asGatewayError(err));
      await this.event(event.event ?? '', event.data);
    }
    this.end();
  }

  end(): void {
    this.res.end();
  }
}
