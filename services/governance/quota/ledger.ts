import type { Database } from '../../kit/db/types.js';

/** The holder of spend carried in from elsewhere; no replica has this name (theirs are process instance ids). */
export const CARRIED = 'carried-spend';

export interface LeaseState {
  quota: string;
  windowStart: Date;
  granted: number;
  used: number;
}

/**
 * The shared record of quotas in PostgreSQL. A window's `allocated` is what
 * all replicas together were granted of its limit; a lease row is one
 * replica's part and how much of it that replica has used. Granting happens in
 * a transaction that locks the window row, so replicas can never be granted
 * more than the limit between them.
 */
export class QuotaLedger {
  constructor(
    private readonly db: Database,
    readonly holder: string,
  ) {}

  /**
   * Grants this replica at least `needed` (and up to `wanted`) of the window's
   * free amount; returns 0 when even `needed` does not fit.
   */
  async acquire(lease: LeaseState, limit: number, needed: number, wanted: number): Promise<{ granted: number; allocated: number }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ allocated: string }>(
        `INSERT INTO quota_windows (quota, window_start, limit_value) VALUES ($1, $2, $3)
         ON CONFLICT (quota, window_start) DO UPDATE SET limit_value = EXCLUDED.limit_value
         RETURNING allocated`,
        [lease.quota, lease.windowStart, limit],
      );
      const allocated = Number(rows[0]!.allocated);
      const free = limit - allocated;
      if (free < needed) return { granted: 0, allocated };
      const granted = Math.max(needed, Math.min(free, wanted));
      await tx.query('UPDATE quota_windows SET allocated = allocated + $3 WHERE quota = $1 AND window_start = $2', [lease.quota, lease.windowStart, granted]);
      await tx.query(
        `INSERT INTO quota_leases (quota, window_start, holder, granted, used) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (quota, window_start, holder) DO UPDATE SET granted = quota_leases.granted + $4, used = $5, renewed_at = now()`,
        [lease.quota, lease.windowStart, this.holder, granted, lease.used],
      );
      return { granted, allocated: allocated + granted };
    });
  }

  /**
   * Reports what this replica used and hands back what it holds but does not
   * need (`keep` is what it keeps beyond `used`). Use beyond the grant (a request
   * that cost more than reserved) is added to the window whatever the limit:
   * spend that happened is never dropped.
   */
  async sync(leases: readonly (LeaseState & { keep: number })[]): Promise<void> {
    if (leases.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const lease of leases) {
        const granted = lease.used + lease.keep;
        const delta = granted - lease.granted;
        await tx.query(`UPDATE quota_windows SET allocated = allocated + $3 WHERE quota = $1 AND window_start = $2`, [lease.quota, lease.windowStart, delta]);
        await tx.query(
          `INSERT INTO quota_leases (quota, window_start, holder, granted, used) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (quota, window_start, holder) DO UPDATE SET granted = $4, used = $5, renewed_at = now()`,
          [lease.quota, lease.windowStart, this.holder, granted, lease.used],
        );
      }
    });
  }

  /** Keeps this replica's leases alive without changing them. */
  async renew(): Promise<void> {
    await this.db.query('UPDATE quota_leases SET renewed_at = now() WHERE holder = $1', [this.holder]);
  }

  /**
   * Takes back what replicas that stopped renewing (crashed) held but had not
   * used. Their use as last reported stays counted; concurrency slots of a dead
   * replica are freed entirely, since its requests ended with it.
   */
  async reclaim(staleAfterMs: number): Promise<number> {
    const stale = `holder <> $1 AND renewed_at < now() - make_interval(secs => $2) AND (granted > used OR (quota LIKE 'conc:%' AND used > 0))`;
    const params = [this.holder, staleAfterMs / 1000];
    // Nearly always nothing is stale: a plain read first, the locking transaction only when there is something to take back.
    const { rows: found } = await this.db.query(`SELECT 1 FROM quota_leases WHERE ${stale} LIMIT 1`, params);
    if (found.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ quota: string; window_start: Date; granted: string; used: string; holder: string }>(
        `SELECT quota, window_start, granted, used, holder FROM quota_leases WHERE ${stale} FOR UPDATE`,
        params,
      );
      for (const row of rows) {
        const keep = row.quota.startsWith('conc:') ? 0 : Number(row.used);
        await tx.query('UPDATE quota_windows SET allocated = allocated - ($3 - $4::numeric) WHERE quota = $1 AND window_start = $2', [
          row.quota,
          row.window_start,
          row.granted,
          keep,
        ]);
        await tx.query('UPDATE quota_leases SET granted = $4, used = $4 WHERE quota = $1 AND window_start = $2 AND holder = $3', [
          row.quota,
          row.window_start,
          row.holder,
          keep,
        ]);
      }
      return rows.length;
    });
  }
}

/**
 * Sets the spend brought into a budget's window from elsewhere (another
 * gateway's ledger), replacing what was carried before: a lease of its own,
 * used whole, that reclaim never takes back. Returns what was carried before.
 * A replica's lease granted before it is honoured; later grants see it.
 */
export function carrySpend(db: Database, quota: string, windowStart: Date, limit: number, amount: number): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO quota_windows (quota, window_start, limit_value) VALUES ($1, $2, $3)
       ON CONFLICT (quota, window_start) DO UPDATE SET limit_value = EXCLUDED.limit_value`,
      [quota, windowStart, limit],
    );
    const { rows } = await tx.query<{ used: string }>('SELECT used FROM quota_leases WHERE quota = $1 AND window_start = $2 AND holder = $3 FOR UPDATE', [
      quota,
      windowStart,
      CARRIED,
    ]);
    const before = Number(rows[0]?.used ?? 0);
    await tx.query('UPDATE quota_windows SET allocated = allocated + $3 WHERE quota = $1 AND window_start = $2', [quota, windowStart, amount - before]);
    await tx.query(
      `INSERT INTO quota_leases (quota, window_start, holder, granted, used) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (quota, window_start, holder) DO UPDATE SET granted = $4, used = $4, renewed_at = now()`,
      [quota, windowStart, CARRIED, amount],
    );
    return before;
  });
}
