import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decodeEvent, encodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';

export interface SpoolSettings {
  dir: string;
  maxBytes: number;
  /** Appends are written and fsync'd together at most this often (group commit). */
  syncIntervalMs: number;
}

const HEADER = 8;

/**
 * A local, durable, bounded queue of events for when the bus cannot take
 * them: records (length, CRC-32, protobuf) appended to one file and fsync'd
 * in groups, replayed in order from a saved offset, the file truncated once
 * empty. One process owns a spool folder at a time (a lock file says which).
 */
export class Spool {
  private io: Promise<unknown> = Promise.resolve();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The last group commit: a record no longer pending is on disk once it settles. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** Who waits for the pending records to be on disk. */
  private waiters: { resolve(): void; reject(err: Error): void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private offset: number;
  private size: number;

  private constructor(
    private readonly settings: SpoolSettings,
    private readonly handle: FileHandle,
    private readonly lockFile: string,
    size: number,
    offset: number,
    private readonly log: Logger,
  ) {
    this.size = size;
    this.offset = Math.min(offset, size);
  }

  static async open(settings: SpoolSettings, log: Logger): Promise<Spool> {
    mkdirSync(settings.dir, { recursive: true });
    const lockFile = join(settings.dir, 'owner.lock');
    takeLock(lockFile);
    const file = join(settings.dir, 'events.spool');
    const handle = await open(file, 'a+');
    const { size } = await handle.stat();
    const offsetFile = join(settings.dir, 'events.offset');
    const offset = existsSync(offsetFile) ? Number(readFileSync(offsetFile, 'utf8')) || 0 : 0;
    const spool = new Spool(settings, handle, lockFile, size, offset, log);
    if (spool.backlog) log.warn({ dir: settings.dir, bytes: size - offset }, 'event spool holds events from an earlier run; they will be published');
    return spool;
  }

  /** Events waiting (written or about to be). */
  get backlog(): boolean {
    return this.size > this.offset || this.pending.length > 0;
  }

  get bytes(): number {
    return this.size - this.offset + this.pendingBytes;
  }

  get full(): boolean {
    return this.bytes >= this.settings.maxBytes;
  }

  /** Queues an event; false when the spool is full. Durable within syncIntervalMs. */
  append(event: Event): boolean {
    if (this.full) return false;
    const payload = Buffer.from(encodeEvent(event));
    const record = Buffer.alloc(HEADER + payload.length);
    record.writeUInt32BE(payload.length, 0);
    record.writeUInt32BE(crc32(payload), 4);
    payload.copy(record, HEADER);
    this.pending.push(record);
    this.pendingBytes += record.length;
    this.timer ??= setTimeout(
      () => void this.flush().catch((err: unknown) => this.log.error({ err }, 'event spool write failed')),
      this.settings.syncIntervalMs,
    );
    return true;
  }

  /** Resolves once every record appended so far is on disk (at the next group commit); rejects if that write failed. */
  synced(): Promise<void> {
    if (this.pending.length === 0) return this.lastWrite;
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Writes and fsyncs what is queued. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return this.serial(async () => undefined);
    return (this.lastWrite = this.serial(async () => {
      if (this.pending.length === 0) return;
      const data = Buffer.concat(this.pending);
      const waiters = this.waiters;
      this.pending = [];
      this.pendingBytes = 0;
      this.waiters = [];
      try {
        await this.handle.write(data, 0, data.length, this.size);
        await this.handle.datasync();
      } catch (err) {
        for (const waiter of waiters) waiter.reject(err as Error);
        throw err;
      }
      this.size += data.length;
      for (const waiter of waiters) waiter.resolve();
    }));
  }

  /**
   * Publishes spooled events in order, each only after the previous one was
   * accepted; stops at the first failure (to retry later). Returns how many
   * were published. An emptied spool is truncated.
   */
  async drain(publish: (event: Event) => Promise<void>): Promise<number> {
    await this.flush();
    let published = 0;
    for (;;) {
      const record = await this.serial(() => this.readAt(this.offset));
      if (!record) break;
      if (record.event) await publish(record.event);
      else this.log.error({ offset: this.offset }, 'skipping a damaged record in the event spool');
      await this.serial(async () => {
        this.offset += record.length;
        published++;
        if (published % 100 === 0) await this.saveOffset();
      });
    }
    await this.serial(async () => {
      if (this.pending.length === 0 && this.offset >= this.size && this.size > 0) {
        await this.handle.truncate(0);
        this.size = 0;
        this.offset = 0;
      }
      await this.saveOffset();
    });
    return published;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.serial(() => this.saveOffset());
    await this.handle.close();
    if (existsSync(this.lockFile)) unlinkSync(this.lockFile);
  }

  private async readAt(position: number): Promise<{ event: Event | undefined; length: number } | undefined> {
    if (position + HEADER > this.size) return undefined;
    const header = Buffer.alloc(HEADER);
    await this.handle.read(header, 0, HEADER, position);
    const length = header.readUInt32BE(0);
    if (position + HEADER + length > this.size) return undefined;
    const payload = Buffer.alloc(length);
    await this.handle.read(payload, 0, length, position + HEADER);
    const intact = crc32(payload) === header.readUInt32BE(4);
    return { event: intact ? decodeEvent(payload) : undefined, length: HEADER + length };
  }

  private saveOffset(): Promise<void> {
    return writeFile(join(this.settings.dir, 'events.offset'), String(this.offset));
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.io.then(work, work);
    this.io = run.catch(() => undefined);
    return run;
  }
}

/** Claims the folder for this process; refuses when a live process holds it. */
function takeLock(file: string): void {
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid && pid !== process.pid && alive(pid)) {
      throw new Error(`event spool ${file} is in use by process ${pid}; give each process its own events.spool.dir`);
    }
    unlinkSync(file);
  }
  const fd = openSync(file, 'wx');
  writeSync(fd, String(process.pid));
  closeSync(fd);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
