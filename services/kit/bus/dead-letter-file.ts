import { open, stat } from 'node:fs/promises';
import { encodeEvent, type Event } from '../events.js';

/**
 * Events the bus refused for good, even in their reduced form, kept whole in
 * a file beside the spool (ingress, which publishes most events, has no
 * database): one JSON line each, with why, the event as protobuf
 * gateway.v1.Event in base64. Each line is fsync'd; the file stops taking
 * lines at maxBytes, so refusals cannot fill the disk.
 */
export class DeadLetterFile {
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private bytes: number,
  ) {}

  static async open(path: string, maxBytes: number): Promise<DeadLetterFile> {
    const bytes = await stat(path).then(
      (found) => found.size,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return 0;
        throw err;
      },
    );
    return new DeadLetterFile(path, maxBytes, bytes);
  }

  /** Appends the event and why it was refused; false when the file is full and the event was not kept. */
  add(event: Event, reason: string): Promise<boolean> {
    const letter = {
      recordedAt: new Date().toISOString(),
      eventId: event.id,
      type: event.type,
      requestId: event.requestId,
      reason,
      event: Buffer.from(encodeEvent(event)).toString('base64'),
    };
    const line = Buffer.from(`${JSON.stringify(letter)}\n`);
    const written = this.writes.then(async () => {
      if (this.bytes + line.length > this.maxBytes) return false;
      const handle = await open(this.path, 'a');
      try {
        await handle.write(line);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.bytes += line.length;
      return true;
    });
    this.writes = written.catch(() => undefined);
    return written;
  }
}
