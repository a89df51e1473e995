/**
 * Which of a provider's credentials to use next: round robin over those not
 * cooling down after a 401, 402 or 429.
 */
export class CredentialPool {
  private readonly cooldownUntil: number[];
  private next = 0;

  constructor(
    readonly size: number,
    private readonly now: () => number = Date.now,
  ) {
    this.cooldownUntil = new Array<number>(size).fill(0);
  }

  /** A credential to use, skipping `exclude` and those cooling down; undefined when none is left. */
  pick(exclude: ReadonlySet<number> = new Set()): number | undefined {
    const now = this.now();
    for (let i = 0; i < this.size; i++) {
      const candidate = (this.next + i) % this.size;
      if (exclude.has(candidate) || this.cooldownUntil[candidate]! > now) continue;
      this.next = (candidate + 1) % this.size;
      return candidate;
    }
    return undefined;
  }

  /** Whether pick() would find a credential, without moving the round robin. */
  available(exclude: ReadonlySet<number> = new Set()): boolean {
    const now = this.now();
    return this.cooldownUntil.some((until, i) => !exclude.has(i) && until <= now);
  }

  cooldown(credential: number, ms: number): void {
    this.cooldownUntil[credential] = Math.max(this.cooldownUntil[credential]!, this.now() + ms);
  }

  /** Soonest moment some credential is usable again. */
  earliestAvailable(): number {
    return Math.min(...this.cooldownUntil);
  }
}
