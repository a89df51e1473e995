export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitSettings {
  failureThreshold: number;
  windowMs: number;
  openMs: number;
}

/**
 * A deployment's circuit breaker: it opens after `failureThreshold` failures
 * within `windowMs`, sends no traffic while open, then lets one probe through
 * (half-open); the probe's success closes it, its failure opens it again.
 */
export class CircuitBreaker {
  private failures: number[] = [];
  /** Successes and faults within the window, whatever the circuit did since: what its error rate is read from. */
  readonly outcomes: Outcomes;
  private openedAt = 0;
  private probing = false;
  state: CircuitState = 'closed';

  constructor(
    private readonly settings: CircuitSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.outcomes = new Outcomes(settings.windowMs, now);
  }

  /** Whether a request may go to the deployment now; a half-open circuit admits one probe at a time. */
  tryAcquire(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.settings.openMs) return false;
      this.state = 'half-open';
      this.probing = false;
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  /** When the circuit would let a request through again (0 when it would now). */
  get retryAt(): number {
    return this.state === 'open' ? this.openedAt + this.settings.openMs : 0;
  }

  success(): void {
    this.outcomes.add(false);
    this.failures = [];
    this.probing = false;
    this.state = 'closed';
  }

  failure(): void {
    this.outcomes.add(true);
    const now = this.now();
    this.probing = false;
    if (this.state === 'half-open') {
      this.open(now);
      return;
    }
    this.failures = this.failures.filter((at) => now - at < this.settings.windowMs);
    this.failures.push(now);
    if (this.failures.length >= this.settings.failureThreshold) this.open(now);
  }

  /** A request that neither failed nor succeeded (e.g. the client's own error) frees the probe slot. */
  release(): void {
    this.probing = false;
  }

  get recentFailures(): number {
    const now = this.now();
    return this.failures.filter((at) => now - at < this.settings.windowMs).length;
  }

  private open(now: number): void {
    this.state = 'open';
    this.openedAt = now;
    this.failures = [];
  }
}

const BUCKETS = 10;

/**
 * Calls that succeeded and provider faults within about the last `windowMs` (up to one tenth more), counted in ten
 * buckets so memory stays the same however busy the deployment is.
 */
export class Outcomes {
  private readonly buckets: { start: number; calls: number; faults: number }[] = [];
  private readonly width: number;

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {
    this.width = Math.max(1, Math.ceil(windowMs / BUCKETS));
  }

  add(fault: boolean): void {
    const now = this.now();
    const start = now - (now % this.width);
    this.drop(now);
    let last = this.buckets.at(-1);
    if (last?.start !== start) {
      last = { start, calls: 0, faults: 0 };
      this.buckets.push(last);
    }
    last.calls++;
    if (fault) last.faults++;
  }

  /** Calls (successes and faults) and faults within the window. */
  get counts(): { calls: number; faults: number } {
    this.drop(this.now());
    return this.buckets.reduce((sum, b) => ({ calls: sum.calls + b.calls, faults: sum.faults + b.faults }), { calls: 0, faults: 0 });
  }

  /** Forgets the buckets that ended before the window. */
  private drop(now: number): void {
    while (this.buckets.length && this.buckets[0]!.start + this.width <= now - this.windowMs) this.buckets.shift();
  }
}
