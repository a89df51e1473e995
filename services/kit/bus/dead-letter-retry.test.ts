import { type Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../../test/harness/databases.js';
import { eventually } from '../../../test/harness/infra.js';
import { migrate } from '../db/migrate.js';
import type { Database } from '../db/types.js';
import { Event } from '../events.js';
import { createLogger } from '../log.js';
import { retryDeadLetters, retryingDeadLetters } from './dead-letter-retry.js';
import { DEAD_LETTERS_COMPONENT, deadLetterMigrations, deadLetters } from './dead-letters.js';
import { refusedByPostgres } from './refusals.js';

const log = createLogger({ level: 'silent' });
const event = (requestId: string) => Event.fromPartial({ id: `event-${requestId}`, type: 'request.completed', requestId });
const overflow = () => Object.assign(new Error('numeric field overflow'), { code: '22003' });

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('dead letters tried again, on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function setUp() {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, DEAD_LETTERS_COMPONENT, deadLetterMigrations, log);
    const metrics = new Registry();
    const letters = deadLetters(handle.db, metrics, log);
    for (const id of ['a', 'b', 'c', 'd']) await letters.setAside('metering', event(id), overflow());
    await letters.setAside('audit', event('a'), overflow());
    const left = async (consumer: string) =>
      (await handle!.db.query<{ request_id: string; error: string }>('SELECT request_id, error FROM dead_letters WHERE consumer = $1 ORDER BY id', [consumer]))
        .rows;
    return { db: handle.db, metrics, left };
  }

  it('writes the ones that go through now, oldest first, and keeps the ones still refused with the new error', async () => {
    const { db, metrics, left } = await setUp();
    const written: string[][] = [];
    const write = async (events: Event[]) => {
      if (events.some((e) => e.requestId === 'c')) throw Object.assign(new Error('value out of range'), { code: '22003' });
      written.push(events.map((e) => e.requestId));
    };
    const result = await retryDeadLetters({ db, consumer: 'metering', maxBatch: 3, write, refusalOf: refusedByPostgres, log, metrics });
    expect(result).toEqual({ written: 3, stillRefused: 1, heldElsewhere: false });
    // Batches of maxBatch, the refused one isolated by halves.
    expect(written).toEqual([['a', 'b'], ['d']]);
    expect(await left('metering')).toEqual([{ request_id: 'c', error: 'value out of range' }]);
    // Another consumer's letters are its own.
    expect(await left('audit')).toHaveLength(1);
    const retried = (await (metrics.getSingleMetric('gateway_consumer_dead_letters_retried_total') as Counter).get()).values;
    expect(retried).toEqual([expect.objectContaining({ labels: { consumer: 'metering' }, value: 3 })]);
  });

  it('goes on page after page while a page gets some through, and starts the next try after a page that got none', async () => {
    const { db, metrics, left } = await setUp();
    const refusedForGood = new Set(['a', 'b']);
    const written: string[] = [];
    const write = async (events: Event[]) => {
      if (events.some((e) => refusedForGood.has(e.requestId))) throw overflow();
      written.push(...events.map((e) => e.requestId));
    };
    const options = { db, consumer: 'metering', maxBatch: 2, pageSize: 2, write, refusalOf: refusedByPostgres, log, metrics };
    // The first page (a, b) gets nothing through: the try ends there, costing one page.
    expect(await retryDeadLetters(options)).toMatchObject({ written: 0, stillRefused: 2 });
    expect(written).toEqual([]);
    // The next try, by whichever replica, starts after it, takes every page that follows, and comes round to a, b last.
    expect(await retryDeadLetters({ ...options, holder: 'another replica' })).toEqual({ written: 2, stillRefused: 2, heldElsewhere: false });
    expect(written).toEqual(['c', 'd']);
    expect((await left('metering')).map((r) => r.request_id)).toEqual(['a', 'b']);
    // Once their cause is fixed too, one try writes them.
    refusedForGood.clear();
    expect(await retryDeadLetters(options)).toEqual({ written: 2, stillRefused: 0, heldElsewhere: false });
    expect(await left('metering')).toEqual([]);
  });

  it("lets one replica at a time try a consumer's dead letters, so none is delivered twice", async () => {
    const { db, metrics, left } = await setUp();
    const delivered: string[] = [];
    const write = async (events: Event[]) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      delivered.push(...events.map((e) => e.requestId));
    };
    const options = { db, consumer: 'metering', maxBatch: 1, write, refusalOf: refusedByPostgres, log, metrics };
    const [first, second] = await Promise.all([retryDeadLetters({ ...options, holder: 'replica 1' }), retryDeadLetters({ ...options, holder: 'replica 2' })]);
    expect([first.heldElsewhere, second.heldElsewhere].sort()).toEqual([false, true]);
    expect(delivered).toEqual(['a', 'b', 'c', 'd']);
    expect(await left('metering')).toEqual([]);
    // Another consumer's letters are not held by that try.
    expect(await retryDeadLetters({ ...options, consumer: 'audit', holder: 'replica 2' })).toEqual({ written: 1, stillRefused: 0, heldElsewhere: false });
  });

  it('takes over from a replica that died holding the dead letters once its hold ran out', async () => {
    const { db, metrics, left } = await setUp();
    const options = { db, consumer: 'metering', maxBatch: 10, write: async () => undefined, refusalOf: refusedByPostgres, log, metrics, holder: 'replica 2' };
    await db.query(`INSERT INTO dead_letter_tries (consumer, holder, held_until) VALUES ('metering', 'replica 1', now() + interval '1 minute')`);
    expect(await retryDeadLetters(options)).toEqual({ written: 0, stillRefused: 0, heldElsewhere: true });
    expect(await left('metering')).toHaveLength(4);
    await db.query(`UPDATE dead_letter_tries SET held_until = now() - interval '1 second'`);
    expect(await retryDeadLetters(options)).toEqual({ written: 4, stillRefused: 0, heldElsewhere: false });
    // And lets go when done, so the next try, by any replica, is not held up.
    expect(await retryDeadLetters({ ...options, consumer: 'audit', holder: 'replica 1' })).toMatchObject({ written: 1, heldElsewhere: false });
    const { rows } = await db.query<{ free: boolean }>(`SELECT held_until < now() AS free FROM dead_letter_tries ORDER BY consumer`);
    expect(rows).toEqual([{ free: true }, { free: true }]);
  });

  it('stops at a failure of another kind, removing nothing it did not write, and the next try goes on', async () => {
    const { db, metrics, left } = await setUp();
    let down = true;
    const written: string[] = [];
    const write = async (events: Event[]) => {
      if (down) throw new Error('Connection terminated unexpectedly');
      written.push(...events.map((e) => e.requestId));
    };
    const options = { db, consumer: 'metering', maxBatch: 2, write, refusalOf: refusedByPostgres, log, metrics };
    await expect(retryDeadLetters(options)).rejects.toThrow('Connection terminated');
    expect(await left('metering')).toHaveLength(4);
    // On a schedule, a failed try is logged, not thrown, and a later one writes them.
    const retrying = retryingDeadLetters(options, 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    down = false;
    await eventually('the four written', async () => ((await left('metering')).length === 0 ? true : undefined));
    await retrying.stop();
    expect(written).toEqual(['a', 'b', 'c', 'd']);
  });
});
