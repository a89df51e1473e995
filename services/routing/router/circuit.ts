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
  private openedAt = 0;
  private probing = false;
  state: CircuitState = 'closed';

  constructor(
    private readonly settings: CircuitSettings,
    private readonly now: () => number = Date.now,
  ) {}

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
    this.failures = [];
    this.probing = false;
    this.state = 'closed';
  }

  failure(): void {
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
