import { describe, expect, it } from 'vitest';
import { Event } from '../../gen/gateway/v1/events.js';
import { isolatingRefused, refusedByPostgres, type RefusedForGood } from './refusals.js';

const event = (requestId: string) => Event.fromPartial({ id: `id-${requestId}`, type: 'request.completed', requestId });
const refusal = Object.assign(new Error('numeric field overflow'), { code: '22003' });

/** A table that refuses, whole, any batch holding a poisoned request: as one INSERT or transaction does. */
function table(poisoned: Set<string>) {
  const rows: string[] = [];
  let writes = 0;
  const write = async (events: Event[]) => {
    writes++;
    if (events.some((e) => poisoned.has(e.requestId))) throw refusal;
    rows.push(...events.map((e) => e.requestId));
  };
  return { rows, write, writes: () => writes };
}

describe('isolating refused events', () => {
  it('writes a batch whole when nothing in it is refused', async () => {
    const t = table(new Set());
    const refused: string[] = [];
    await isolatingRefused(t.write, refusedByPostgres, async (e) => void refused.push(e.requestId))(['a', 'b', 'c'].map(event));
    expect(t.rows).toEqual(['a', 'b', 'c']);
    expect(t.writes()).toBe(1);
    expect(refused).toEqual([]);
  });

  it('sets aside exactly the refused events and writes every other one, in order', async () => {
    const t = table(new Set(['c', 'f']));
    const refused: { id: string; reason: string }[] = [];
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    await isolatingRefused(t.write, refusedByPostgres, async (e, err) => void refused.push({ id: e.requestId, reason: err.message }))(ids.map(event));
    expect(t.rows).toEqual(['a', 'b', 'd', 'e', 'g']);
    expect(refused).toEqual([
      { id: 'c', reason: 'numeric field overflow' },
      { id: 'f', reason: 'numeric field overflow' },
    ]);
  });

  it('goes straight to the item a receiver names as the first it refuses, and halves when the position it gives is not in the batch', async () => {
    const poisoned = new Set(['c', 'e']);
    const delivered: string[] = [];
    const sent: string[][] = [];
    const receiver = (misplaced: boolean) => async (events: Event[]) => {
      sent.push(events.map((e) => e.requestId));
      const at = events.findIndex((e) => poisoned.has(e.requestId));
      if (at >= 0) throw Object.assign(new Error(`event ${at} is invalid`), { at: misplaced ? events.length + 3 : at });
      delivered.push(...events.map((e) => e.requestId));
    };
    const refusalOf = (err: unknown): RefusedForGood | undefined => (err instanceof Error && 'at' in err ? { at: err.at as number } : undefined);
    const refused: string[] = [];
    await isolatingRefused(receiver(false), refusalOf, async (e) => void refused.push(e.requestId))(['a', 'b', 'c', 'd', 'e', 'f'].map(event));
    expect(delivered).toEqual(['a', 'b', 'd', 'f']);
    expect(refused).toEqual(['c', 'e']);
    expect(sent).toEqual([['a', 'b', 'c', 'd', 'e', 'f'], ['a', 'b'], ['c'], ['d', 'e', 'f'], ['d'], ['e'], ['f']]);

    delivered.length = 0;
    refused.length = 0;
    sent.length = 0;
    await isolatingRefused(receiver(true), refusalOf, async (e) => void refused.push(e.requestId))(['a', 'b', 'c', 'd'].map(event));
    expect(delivered).toEqual(['a', 'b', 'd']);
    expect(refused).toEqual(['c']);
    expect(sent).toEqual([['a', 'b', 'c', 'd'], ['a', 'b'], ['c', 'd'], ['c'], ['d']]);
  });

  it('fails the batch, setting nothing aside, when the error is not about the values (a lost connection)', async () => {
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
    const refused: string[] = [];
    const write = isolatingRefused(
      async () => {
        throw lost;
      },
      refusedByPostgres,
      async (e: Event) => void refused.push(e.requestId),
    );
    await expect(write(['a', 'b'].map(event))).rejects.toBe(lost);
    const undefinedTable = Object.assign(new Error('relation "usage_records" does not exist'), { code: '42P01' });
    await expect(
      isolatingRefused(
        async () => {
          throw undefinedTable;
        },
        refusedByPostgres,
        async (e: Event) => void refused.push(e.requestId),
      )([event('a')]),
    ).rejects.toBe(undefinedTable);
    expect(refused).toEqual([]);
  });

  it('fails the batch when setting an event aside fails, so it is retried', async () => {
    const t = table(new Set(['b']));
    const down = new Error('dead_letters unreachable');
    await expect(
      isolatingRefused(t.write, refusedByPostgres, async () => {
        throw down;
      })(['a', 'b'].map(event)),
    ).rejects.toBe(down);
    expect(t.rows).toEqual(['a']);
  });
});
