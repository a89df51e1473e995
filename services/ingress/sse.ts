import type { ServerResponse } from 'node:http';

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

  end(): void {
    this.res.end();
  }
}
