/**
 * How a consumer waits between batches: for events, for its linger, or for
 * the next turn of the event loop, with the wait ended early once enough
 * events have come: under a flood of connections libuv polls sockets long
 * before it runs timers again, and a consumer would write nothing meanwhile.
 */
export class Pause {
  private waiting: { wakeAt: number; end(): void } | undefined;

  /** Waits until `reached` reports `wakeAt` events or, if first, `until` ends it: a linger in ms, the next turn, or nothing. */
  for(wakeAt: number, until?: number | 'turn'): Promise<void> {
    return new Promise((resolve) => {
      let cancel: (() => void) | undefined;
      const end = () => {
        cancel?.();
        this.waiting = undefined;
        resolve();
      };
      this.waiting = { wakeAt, end };
      if (until === 'turn') {
        const turn = setImmediate(end);
        cancel = () => clearImmediate(turn);
      } else if (until !== undefined) {
        const timer = setTimeout(end, until);
        cancel = () => clearTimeout(timer);
      }
    });
  }

  /** Tells the waiter how many events wait now; ends its wait when that is enough. */
  reached(count: number): void {
    if (this.waiting && count >= this.waiting.wakeAt) this.waiting.end();
  }

  /** Ends the wait at once (stopping). */
  wake(): void {
    this.waiting?.end();
  }
}
