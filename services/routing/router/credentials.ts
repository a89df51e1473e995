/**
 * Which of a provider's credentials to use next: round robin over those not
 * cooling down after a 401, 402 or 429.
 */
export class CredentialPool {
  private readonly cooldownUntil: number[];
  /** The credential's fingerprint when it was left out: a new value ends the cooldown. */
  private readonly stampAtCooldown: (string | undefined)[];
  private next = 0;

  constructor(
    readonly size: number,
    private readonly now: () => number = Date.now,
    private readonly stamp: (credential: number) => string | undefined = () => undefined,
  ) {
    this.cooldownUntil = new Array<number>(size).fill(0);
    this.stampAtCooldown = new Array<string | undefined>(size).fill(undefined);
  }

  private coolingDown(credential: number, now: number): boolean {
    if (this.cooldownUntil[credential]! <= now) return false;
    const at = this.stampAtCooldown[credential];
    if (at !== undefined && at !== this.stamp(credential)) {
      this.cooldownUntil[credential] = 0;
      return false;
    }
    return true;
  }

  /** A credential to use, skipping `exclude` and those cooling down; undefined when none is left. */
  pick(exclude: ReadonlySet<number> = new Set()): number | undefined {
    const now = this.now();
    for (let i = 0; i < this.size; i++) {
      const candidate = (this.next + i) % this.size;
      if (exclude.has(candidate) || this.coolingDown(candidate, now)) continue;
      this.next = (candidate + 1) % this.size;
      return candidate;
    }
    return undefined;
  }

  /** Whether pick() would find a credential, without moving the round robin. */
  available(exclude: ReadonlySet<number> = new Set()): boolean {
    const now = this.now();
    return this.cooldownUntil.some((_, i) => !exclude.has(i) && !this.coolingDown(i, now));
  }

  /** The fingerprint of a credential's value now; taken when a call starts, so a refusal is pinned to the value it used. */
  stampOf(credential: number): string | undefined {
    return this.stamp(credential);
  }

  /** Leaves a credential out for `ms`, or until its value is no longer the one stamped. */
  cooldown(credential: number, ms: number, stamp = this.stamp(credential)): void {
    this.cooldownUntil[credential] = Math.max(this.cooldownUntil[credential]!, this.now() + ms);
    this.stampAtCooldown[credential] = stamp;
  }
}
