/** An operator's cap on a deployment's calls in flight, per routing process. */
export interface Cap {
  readonly maxInFlight: number;
  /** How long a call waits for a slot before it gives up. */
  readonly queueTimeoutMs: number;
}

/** A call waiting for a slot: a link of the queue, so one that leaves is unlinked at once. */
interface Waiter {
  readonly deadline: number;
  readonly signal: AbortSignal;
  settle(granted: boolean): void;
  onAbort(): void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * A deployment's calls in flight and, under a cap, the calls waiting for one
 * of them to end, first come first served. A slot that ends goes straight to
 * the first waiter, so no newcomer overtakes the queue. Every waiter of one
 * queue has the same timeout, so deadlines follow the queue's order and one
 * timer, set for the first waiter's deadline, serves the whole queue.
 */
export class Slots {
  inFlight = 0;
  queued = 0;
  private first: Waiter | undefined;
  private last: Waiter | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Undefined: no cap, and a slot is never waited for. */
    public cap: Cap | undefined,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** Whether a call would get a slot now, without waiting. */
  get hasRoom(): boolean {
    return this.cap === undefined || (this.queued === 0 && this.inFlight < this.cap.maxInFlight);
  }

  /** Takes a slot if there is room now. */
  tryTake(): boolean {
    if (!this.hasRoom) return false;
    this.inFlight++;
    return true;
  }

  /**
   * Waits in line for a slot: true once the call holds one, false when
   * queueTimeoutMs passed first; rejects with the signal's reason when the
   * signal aborts (the client went away), leaving the line.
   */
  wait(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const timeoutMs = this.cap?.queueTimeoutMs ?? 0;
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        deadline: this.now() + timeoutMs,
        signal,
        prev: this.last,
        next: undefined,
        settle: (granted) => {
          this.unlink(waiter);
          resolve(granted);
        },
        onAbort: () => {
          this.unlink(waiter);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      if (this.last) this.last.next = waiter;
      else this.first = waiter;
      this.last = waiter;
      this.queued++;
      if (this.timer === undefined) this.arm(timeoutMs);
    });
  }

  /** Ends a call's hold on its slot: the first waiter gets it, or it is free. */
  release(): void {
    if (this.first && this.cap && this.inFlight <= this.cap.maxInFlight) this.first.settle(true);
    else this.inFlight--;
  }

  /** Releases the slot when the signal aborts: a stream holds its slot until it ends. */
  releaseWhen(signal: AbortSignal): void {
    if (signal.aborted) this.release();
    else signal.addEventListener('abort', () => this.release(), { once: true });
  }

  /** A raised cap lets waiters in at once. */
  setCap(cap: Cap | undefined): void {
    this.cap = cap;
    while (this.first && (cap === undefined || this.inFlight < cap.maxInFlight)) {
      this.inFlight++;
      this.first.settle(true);
    }
  }

  private unlink(waiter: Waiter): void {
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this.first = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this.last = waiter.prev;
    this.queued--;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.expire(), ms);
    // A waiting call keeps the process busy already; the timer need not.
    this.timer.unref();
  }

  /** Fails the waiters whose deadline passed, then sets the timer for the next one (the timer may fire early when its waiter left). */
  private expire(): void {
    this.timer = undefined;
    const now = this.now();
    while (this.first && this.first.deadline <= now) this.first.settle(false);
    if (this.first) this.arm(this.first.deadline - now);
  }
}
