import type { Database } from '../../kit/db/types.js';
import { processInstanceId } from '../../kit/ids.js';
import type { Logger } from '../../kit/log.js';
import { QuotaLedger } from './ledger.js';
import type { Window } from './windows.js';

/** One limit a request counts against, in the window the request falls in. */
export interface Charge {
  /** e.g. "budget:bud_1", "rpm:key:vk_1", "conc:team:t1". */
  quota: string;
  window: Window;
  limit: number;
  amount: number;
}

interface Entry {
  quota: string;
  window: Window;
  limit: number;
  /** What the shared ledger granted this replica. */
  granted: number;
  /** What this replica's requests reserved or spent of it. */
  used: number;
  /** Window-wide grants as last seen, for remaining-quota headers. */
  allocatedSeen: number;
  lastActive: number;
  synced: { granted: number; used: number };
}

export interface Taken {
  entry: Entry;
  amount: number;
}

export interface QuotaSettings {
  /** Share of a window's free amount a replica takes at once (the rest stays for other replicas). */
  leaseFraction: number;
  syncIntervalMs: number;
  /** An entry unused this long hands back what it holds. */
  idleMs: number;
  /** A replica that has not renewed its leases this long is taken to be dead. */
  reclaimAfterMs: number;
}

const key = (quota: string, window: Window) => `${quota}@${window.start.getTime()}`;

/**
 * This replica's side of quota enforcement. Requests are admitted from
 * amounts leased in advance from the shared ledger, so the request path stays
 * in memory; only running out of a lease costs a database transaction, and
 * leases shrink as a window fills, so between them replicas never exceed a limit.
 * What is used is reported every syncIntervalMs, and idle leases are handed back.
 */
export class QuotaBook {
  private readonly entries = new Map<string, Entry>();
  private readonly ledger: QuotaLedger;
  /** Ledger operations run one at a time, so grants and reports never interleave. */
  private serial: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private lastReclaim = 0;

  constructor(
    db: Database,
    private readonly settings: QuotaSettings,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.ledger = new QuotaLedger(db, processInstanceId());
  }

  start(): void {
    this.timer = setInterval(
      () => void this.maintain().catch((err: unknown) => this.log.warn({ err }, 'quota sync failed; retrying')),
      this.settings.syncIntervalMs,
    );
    this.timer.unref();
  }

  /** Reserves every charge, or none: returns what was taken, or the charge that did not fit. */
  async reserve(charges: readonly Charge[]): Promise<{ taken: Taken[] } | { refused: Charge; remaining: number }> {
    const taken: Taken[] = [];
    for (const charge of charges) {
      const entry = this.entry(charge);
      if (!(await this.take(entry, charge.amount))) {
        for (const t of taken) t.entry.used -= t.amount;
        return { refused: charge, remaining: Math.max(0, entry.limit - entry.allocatedSeen + (entry.granted - entry.used)) };
      }
      taken.push({ entry, amount: charge.amount });
    }
    return { taken };
  }

  /** Changes what a reservation counts for: a refund (negative) or a cost above the reservation. */
  adjust(taken: Taken, delta: number): void {
    taken.entry.used = Math.max(0, taken.entry.used + delta);
    taken.entry.lastActive = this.now();
  }

  /** What is left of a quota window as this replica sees it (for x-ratelimit headers). */
  remaining(charge: Charge): number {
    const entry = this.entries.get(key(charge.quota, charge.window));
    if (!entry) return charge.limit;
    return Math.max(0, entry.limit - entry.allocatedSeen + (entry.granted - entry.used));
  }

  /** Hands back everything held (graceful shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const entry of this.entries.values()) entry.lastActive = 0;
    await this.maintain();
  }

  private entry(charge: Charge): Entry {
    const id = key(charge.quota, charge.window);
    let entry = this.entries.get(id);
    if (!entry) {
      entry = {
        quota: charge.quota,
        window: charge.window,
        limit: charge.limit,
        granted: 0,
        used: 0,
        allocatedSeen: 0,
        lastActive: this.now(),
        synced: { granted: 0, used: 0 },
      };
      this.entries.set(id, entry);
    }
    entry.limit = charge.limit;
    return entry;
  }

  private async take(entry: Entry, amount: number): Promise<boolean> {
    entry.lastActive = this.now();
    for (let round = 0; round < 2; round++) {
      if (entry.granted - entry.used >= amount) {
        entry.used += amount;
        return true;
      }
      await this.serialized(async () => {
        const needed = amount - (entry.granted - entry.used);
        if (needed <= 0) return;
        const free = entry.limit - entry.allocatedSeen;
        // Concurrency slots are taken one at a time: a held slot is one another replica cannot use. Amounts stay whole (micro-dollars, tokens).
        const wanted = entry.quota.startsWith('conc:') ? needed : Math.max(needed, Math.floor(free * this.settings.leaseFraction));
        const { granted, allocated } = await this.ledger.acquire(this.lease(entry), entry.limit, needed, wanted);
        entry.granted += granted;
        entry.synced.granted += granted;
        entry.allocatedSeen = allocated;
      });
    }
    return false;
  }

  private lease(entry: Entry) {
    return { quota: entry.quota, windowStart: entry.window.start, granted: entry.synced.granted, used: entry.used };
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.serial.then(work, work);
    this.serial = run.catch(() => undefined);
    return run;
  }

  /** Reports use, hands back idle or finished leases, keeps ours alive, and reclaims dead replicas'. */
  private maintain(): Promise<void> {
    return this.serialized(async () => {
      const now = this.now();
      const changed: (ReturnType<QuotaBook['lease']> & { keep: number })[] = [];
      for (const [id, entry] of this.entries) {
        const ended = entry.window.end.getTime() <= now;
        const idle = now - entry.lastActive >= this.settings.idleMs;
        // An overdrawn entry (a request cost more than reserved) reports its overage now.
        const keep = ended || idle || entry.used > entry.granted ? 0 : entry.granted - entry.used;
        if (entry.used + keep !== entry.synced.granted || entry.used !== entry.synced.used) {
          changed.push({ ...this.lease(entry), keep });
          entry.granted = entry.used + keep;
        }
        // Kept until its window ends: `used` is this replica's spend in the window, reported with every sync.
        if (ended) this.entries.delete(id);
      }
      await this.ledger.sync(changed);
      for (const lease of changed) {
        const entry = this.entries.get(`${lease.quota}@${lease.windowStart.getTime()}`);
        if (entry) entry.synced = { granted: lease.used + lease.keep, used: lease.used };
      }
      // Idle, a replica writes nothing: only what another replica could take back needs renewing.
      if ([...this.entries.values()].some(reclaimable)) await this.ledger.renew();
      // A dead replica's leases wait reclaimAfterMs before they are taken back; looking a few times in that span is enough.
      if (now - this.lastReclaim >= this.settings.reclaimAfterMs / 3) {
        this.lastReclaim = now;
        const reclaimed = await this.ledger.reclaim(this.settings.reclaimAfterMs);
        if (reclaimed > 0) this.log.warn({ leases: reclaimed }, 'reclaimed quota leases of replicas that stopped renewing');
      }
    });
  }
}

/** Whether the ledger may hold for this entry what reclaim takes from a silent replica: an unused grant, or concurrency slots in use. */
function reclaimable(entry: Entry): boolean {
  if (entry.granted > entry.used || entry.synced.granted > entry.synced.used) return true;
  return entry.quota.startsWith('conc:') && (entry.used > 0 || entry.synced.used > 0);
}
