import type { ServerResponse } from 'node:http';
import type { StreamData } from '../gen/gateway/v1/routing.js';
import { streamErrorEvent } from '../kit/api-errors.js';
import { asGatewayError } from '../kit/errors.js';

/** Writes server-sent events to a client, waiting when its socket buffer is full. */
export class SseWriter {
  /** The events that complete the answer, held until the request is on record. */
  private readonly held: StreamData[] = [];

  constructor(private readonly res: ServerResponse) {}

  start(headers: Record<string, string>): void {
    this.res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
  }

  /** Resolves once the event is handed to the socket (or the client has gone). */
  async event(name: string, data: Buffer | string): Promise<void> {
    if (this.res.destroyed) return;
    const ok = this.res.write(`${name ? `event: ${name}\n` : ''}data: ${data.toString()}\n\n`);
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
