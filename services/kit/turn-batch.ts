/**
 * Collects what is added during one turn of the event loop and hands it over
 * all together once the turn's I/O callbacks ran (setImmediate): under load
 * many requests end in one turn, and one call, message or write serves them all.
 * With a weight limit, a batch that reaches it is handed over at once instead,
 * so one message stays under what its receiver accepts.
 */
export class TurnBatch<T> {
  private items: T[] = [];
  private weight = 0;

  constructor(
    private readonly send: (items: T[]) => void,
    private readonly limit?: { weigh: (item: T) => number; max: number },
  ) {}

  add(item: T): void {
    if (this.items.push(item) === 1) setImmediate(() => this.flush());
    if (!this.limit) return;
    this.weight += this.limit.weigh(item);
    if (this.weight >= this.limit.max) this.flush();
  }

  /** Hands over what was added so far at once (at shutdown); the turn's own flush then finds nothing. */
  flush(): void {
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.weight = 0;
    this.send(items);
  }

  /** Items waiting for the end of the turn. */
  get size(): number {
    return this.items.length;
  }
}
