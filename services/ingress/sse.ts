import type { ServerResponse } from 'node:http';
import type { OpenAIErrorBody } from '../kit/errors.js';

/** Writes server-sent events to a client, waiting when its socket buffer is full. */
export class SseWriter {
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

  /** Resolves once the data is handed to the socket (or the client has gone). */
  async data(payload: Buffer | string): Promise<void> {
    if (this.res.destroyed) return;
    const ok = this.res.write(`data: ${payload.toString()}\n\n`);
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

  /** Ends a stream that failed after it began: an error event the OpenAI SDKs raise, then the end. */
  async fail(error: OpenAIErrorBody): Promise<void> {
    await this.data(JSON.stringify(error));
    this.res.end();
  }

  async done(): Promise<void> {
    await this.data('[DONE]');
    this.res.end();
  }
}
