export interface TurnBatchOptions<T> {
  /** A batch whose items weigh this much together is handed over at once, so one message stays under what its receiver accepts. */
  limit?: { weigh: (item: T) => number; max: number };
  /**
   * Waits this long after a batch's first item instead of to the end of its
   * turn: below saturation items come one per turn, and a short wait makes
   * one message of several, for that much delay.
   */
  lingerMs?: number;
}

/**
 * Collects what is added during one turn of the event loop and hands it over
 * all together once the turn's I/O callbacks ran (setImmediate): under load
 * many requests end in one turn, and one call, message or write serves them all.
 */
export class TurnBatch<T> {
  private items: T[] = [];
  private weight = 0;
  private timer: NodeJS.Timeout | undefined;
  private soonScheduled = false;

  constructor(
    private readonly send: (items: T[]) => void,
    private readonly options: TurnBatchOptions<T> = {},
  ) {}

  /** `soon`: someone waits on this item, so it goes at the end of this turn even with a linger. */
  add(item: T, soon = false): void {
    if (this.items.push(item) === 1) this.schedule();
    if (soon && !this.soonScheduled && (this.options.lingerMs ?? 0) > 0) {
      this.soonScheduled = true;
      setImmediate(() => {
        this.soonScheduled = false;
        this.flush();
      });
    }
    const limit = this.options.limit;
    if (!limit) return;
    this.weight += limit.weigh(item);
    if (this.weight >= limit.max) this.flush();
  }

  /** Hands over what was added so far at once (at shutdown, or before something that must follow it). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.weight = 0;
    this.send(items);
  }

  /** Items waiting to be handed over. */
  get size(): number {
    return this.items.length;
  }

  private schedule(): void {
    const lingerMs = this.options.lingerMs ?? 0;
    if (lingerMs > 0) this.timer = setTimeout(() => this.flush(), lingerMs);
    else setImmediate(() => this.flush());
  }
}
