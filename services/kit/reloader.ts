import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './log.js';

/** How long a failed load waits before it is tried again. */
const RETRY_MS = 5_000;

/**
 * Runs a load of the stored entries until it succeeds, one at a time: a
 * change heard while one runs makes one more after it, so an older read
 * never lands after a newer one.
 */
export class Reloader {
  private running: Promise<void> | undefined;
  private heardMeanwhile = false;
  private stopped = false;

  constructor(
    private readonly load: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  reload(): Promise<void> {
    if (this.running) {
      this.heardMeanwhile = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.heardMeanwhile = false;
        await this.untilDone();
      } while (this.heardMeanwhile && !this.stopped);
      this.running = undefined;
    })();
    return this.running;
  }

  stop(): void {
    this.stopped = true;
  }

  private async untilDone(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        return await this.load();
      } catch (err) {
        if (attempt === 0) this.log.warn({ reason: (err as Error).message }, 'cannot apply the entries of the admin API yet; retrying');
        await sleep(RETRY_MS);
      }
    }
  }
}
