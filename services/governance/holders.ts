import type { Database } from '../kit/db/types.js';

/**
 * Which ingress processes that hold admissions are alive. An ingress process
 * sends a heartbeat while it holds any, to whichever governance replica its
 * stream reaches at the time (the stream moves every 30 s), so the replica
 * that admitted a request may stop hearing from its holder while the holder
 * lives. Each replica therefore records in PostgreSQL when it last heard each
 * holder, and asks that record about a holder before it calls it silent.
 * Times are the replicas' clocks, as for budget windows.
 */
export class Holders {
  /** When this replica last heard from each holder, as long as that is within the silence bound. */
  private readonly lastHeard = new Map<string, number>();
  /** Heard since the last record(). */
  private readonly unrecorded = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly silenceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  heard(holder: string): void {
    this.lastHeard.set(holder, this.now());
    this.unrecorded.add(holder);
  }

  /** Writes when this replica last heard the holders heard since the last call, for the other replicas. */
  async record(): Promise<void> {
    const since = this.now() - this.silenceMs;
    for (const [holder, at] of this.lastHeard) if (at <= since) this.lastHeard.delete(holder);
    // In one order on every replica, so two replicas writing the same rows never wait on each other in a cycle.
    const holders = [...this.unrecorded].filter((holder) => this.lastHeard.has(holder)).sort();
    this.unrecorded.clear();
    if (holders.length === 0) return;
    try {
      await this.db.query(
        `INSERT INTO reservation_holders (holder, seen_at) SELECT * FROM unnest($1::text[], $2::timestamptz[])
         ON CONFLICT (holder) DO UPDATE SET seen_at = GREATEST(reservation_holders.seen_at, EXCLUDED.seen_at)`,
        [holders, holders.map((holder) => new Date(this.lastHeard.get(holder)!))],
      );
    } catch (err) {
      for (const holder of holders) this.unrecorded.add(holder);
      throw err;
    }
    // Holders silent past the bound are dead or idle: their rows go, so the table holds about one row per live ingress.
    await this.db.query('DELETE FROM reservation_holders WHERE seen_at <= $1', [new Date(since)]);
  }

  /** Those of the holders no replica has heard from within the silence bound. */
  async silent(holders: ReadonlySet<string>): Promise<Set<string>> {
    const since = this.now() - this.silenceMs;
    const unheard = [...holders].filter((holder) => (this.lastHeard.get(holder) ?? -Infinity) <= since);
    if (unheard.length === 0) return new Set();
    const { rows } = await this.db.query<{ holder: string }>('SELECT holder FROM reservation_holders WHERE holder = ANY($1::text[]) AND seen_at > $2', [
      unheard,
      new Date(since),
    ]);
    const heardElsewhere = new Set(rows.map((row) => row.holder));
    return new Set(unheard.filter((holder) => !heardElsewhere.has(holder)));
  }
}
