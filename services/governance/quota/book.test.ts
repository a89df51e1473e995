import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../../test/harness/databases.js';
import { migrate } from '../../kit/db/migrate.js';
import type { Database } from '../../kit/db/types.js';
import { createLogger } from '../../kit/log.js';
import { governanceMigrations } from '../migrations.js';
import { QuotaBook, type Charge } from './book.js';
import { FOREVER, rateWindow } from './windows.js';

const log = createLogger({ level: 'silent' });
const settings = { leaseFraction: 0.5, syncIntervalMs: 60_000, idleMs: 60_000, reclaimAfterMs: 1 };

async function allocated(db: Database, quota: string): Promise<{ allocated: number; used: number }> {
  const { rows } = await db.query<{ allocated: string; used: string }>(
    `SELECT w.allocated, COALESCE((SELECT SUM(used) FROM quota_leases l WHERE l.quota = w.quota AND l.window_start = w.window_start), 0) AS used
     FROM quota_windows w WHERE quota = $1`,
    [quota],
  );
  return { allocated: Number(rows[0]?.allocated ?? 0), used: Number(rows[0]?.used ?? 0) };
}

// Quotas are shared through PostgreSQL by replicas that each admit from leases
// in memory; two QuotaBooks on one database stand for two governance replicas.
describe.each(['postgres', 'pglite'] as const)('leased quotas on %s', (kind) => {
  let handle: Awaited<ReturnType<(typeof DATABASE_KINDS)['postgres']>> | undefined;
  const books: QuotaBook[] = [];
  afterEach(async () => {
    books.length = 0;
    await handle?.cleanup();
  });

  async function setup() {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, 'governance', governanceMigrations, log);
    const book = () => {
      const b = new QuotaBook(handle!.db, settings, log);
      books.push(b);
      return b;
    };
    return { db: handle.db, book };
  }

  const budget = (amount: number, limit = 10): Charge => ({ quota: 'budget:b1', window: rateWindow(3600, new Date()), limit, amount });

  it('admits at most what the limit allows, however the requests spread over replicas', async () => {
    const { db, book } = await setup();
    const a = book();
    const b = book();
    // Budget $10, each request reserves $2: five fit.
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).reserve([budget(2)])));
    const admitted = results.filter((r) => 'taken' in r).length;
    expect(admitted).toBeLessThanOrEqual(5);
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect((await allocated(db, 'budget:b1')).allocated).toBeLessThanOrEqual(10);
  });

  it('leases whole amounts, so what it says is left is whole micro-dollars', async () => {
    const { db, book } = await setup();
    const a = book();
    // Half of the 7 free after the first request would be 3.5: a lease is never a fraction of a unit.
    expect(await a.reserve([budget(3, 10)])).toHaveProperty('taken');
    expect(await a.reserve([budget(3, 10)])).toHaveProperty('taken');
    const refused = await a.reserve([budget(5, 10)]);
    expect(refused).toMatchObject({ remaining: 4 });
    expect(Number.isInteger((await allocated(db, 'budget:b1')).allocated)).toBe(true);
  });

  it('settles to the real cost, reports use, and hands back idle leases for other replicas', async () => {
    const { db, book } = await setup();
    const a = book();
    const first = await a.reserve([budget(4)]);
    if (!('taken' in first)) throw new Error('expected admission');
    a.adjust(first.taken[0]!, 1 - 4); // the request really cost $1
    await a.stop(); // reports use and hands back the rest
    expect(await allocated(db, 'budget:b1')).toEqual({ allocated: 1, used: 1 });
    const b = book();
    const second = await b.reserve([budget(9)]);
    expect('taken' in second).toBe(true);
    expect('taken' in (await b.reserve([budget(1)]))).toBe(false);
  });

  it('reclaims what a crashed replica held but keeps what it reported as used', async () => {
    const { db, book } = await setup();
    const crashed = book();
    const r = await crashed.reserve([budget(2)]);
    if (!('taken' in r)) throw new Error('expected admission');
    // The crashed replica leased more than it used; it never hands the rest back.
    expect((await allocated(db, 'budget:b1')).allocated).toBeGreaterThan(2);
    await (crashed as unknown as { maintain(): Promise<void> }).maintain(); // its last report before dying
    await new Promise((resolve) => setTimeout(resolve, 20));
    const survivor = book();
    await (survivor as unknown as { maintain(): Promise<void> }).maintain();
    expect(await allocated(db, 'budget:b1')).toEqual({ allocated: 2, used: 2 });
  });

  it('keeps alive a lease it holds unused, and writes nothing once idle', async () => {
    const { db } = await setup();
    let clock = Date.now();
    const a = new QuotaBook(db, settings, log, () => clock);
    const maintain = () => (a as unknown as { maintain(): Promise<void> }).maintain();
    const renewedAt = async () => (await db.query<{ renewed_at: Date }>('SELECT renewed_at FROM quota_leases')).rows.map((r) => r.renewed_at.getTime());
    const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
    expect('taken' in (await a.reserve([budget(2)]))).toBe(true);
    const leased = await renewedAt();
    await pause();
    await maintain(); // holds more than it used: renewed, so no one takes it back
    const renewed = await renewedAt();
    expect(renewed[0]).toBeGreaterThan(leased[0]!);
    clock += settings.idleMs;
    await maintain(); // idle: hands back what it did not use
    expect(await allocated(db, 'budget:b1')).toEqual({ allocated: 2, used: 2 });
    const handedBack = await renewedAt();
    await pause();
    await maintain();
    expect(await renewedAt()).toEqual(handedBack);
  });

  it('frees concurrency slots when requests end, and refuses past the limit in between', async () => {
    const { book } = await setup();
    const a = book();
    const slot: Charge = { quota: 'conc:key:k1', window: FOREVER, limit: 2, amount: 1 };
    const one = await a.reserve([slot]);
    const two = await a.reserve([slot]);
    const three = await a.reserve([slot]);
    expect(['taken' in one, 'taken' in two, 'taken' in three]).toEqual([true, true, false]);
    if ('taken' in one) a.adjust(one.taken[0]!, -1);
    expect('taken' in (await a.reserve([slot]))).toBe(true);
  });

  it('reserves all charges of a request or none', async () => {
    const { book } = await setup();
    const a = book();
    const rpm: Charge = { quota: 'rpm:key:k1', window: rateWindow(60, new Date()), limit: 100, amount: 1 };
    const refused = await a.reserve([rpm, budget(50)]);
    expect('refused' in refused && refused.refused.quota).toBe('budget:b1');
    expect(a.remaining(rpm)).toBe(100);
  });

  it('moves budget windows written in dollars to whole micro-dollars on upgrade, rounding use up', async () => {
    handle = await DATABASE_KINDS[kind]();
    await migrate(
      handle.db,
      'governance',
      governanceMigrations.filter((m) => m.version <= 7),
      log,
    );
    const start = new Date('2026-12-01T00:00:00Z');
    await handle.db.query(
      `INSERT INTO quota_windows (quota, window_start, limit_value, allocated) VALUES ('budget:b1', $1, 3.5, 1.2000004), ('rpm:key:k', $1, 10, 3)`,
      [start],
    );
    await handle.db.query(
      `INSERT INTO quota_leases (quota, window_start, holder, granted, used) VALUES ('budget:b1', $1, 'r1', 1.2000004, 0.30000000000000004), ('rpm:key:k', $1, 'r1', 3, 2)`,
      [start],
    );
    await migrate(handle.db, 'governance', governanceMigrations, log);
    const { rows } = await handle.db.query<{ quota: string; limit_value: string; allocated: string; granted: string; used: string }>(
      'SELECT w.quota, w.limit_value::text, w.allocated::text, l.granted::text, l.used::text FROM quota_windows w JOIN quota_leases l USING (quota, window_start) ORDER BY w.quota',
    );
    expect(rows.map((r) => [r.quota, Number(r.limit_value), Number(r.allocated), Number(r.granted), Number(r.used)])).toEqual([
      ['budget:b1', 3_500_000, 1_200_001, 1_200_001, 300_001],
      ['rpm:key:k', 10, 3, 3, 2],
    ]);
  });
});
