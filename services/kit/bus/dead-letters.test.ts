import { describe, expect, it } from 'vitest';
import { Event } from '../../gen/gateway/v1/events.js';
import { isolatingRefused } from './dead-letters.js';

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
    await isolatingRefused(t.write, async (e) => void refused.push(e.requestId))(['a', 'b', 'c'].map(event));
    expect(t.rows).toEqual(['a', 'b', 'c']);
    expect(t.writes()).toBe(1);
    expect(refused).toEqual([]);
  });

  it('sets aside exactly the refused events and writes every other one, in order', async () => {
    const t = table(new Set(['c', 'f']));
    const refused: { id: string; reason: string }[] = [];
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    await isolatingRefused(t.write, async (e, err) => void refused.push({ id: e.requestId, reason: err.message }))(ids.map(event));
    expect(t.rows).toEqual(['a', 'b', 'd', 'e', 'g']);
    expect(refused).toEqual([
      { id: 'c', reason: 'numeric field overflow' },
      { id: 'f', reason: 'numeric field overflow' },
    ]);
  });

  it('fails the batch, setting nothing aside, when the error is not about the values (a lost connection)', async () => {
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
    const refused: string[] = [];
    const write = isolatingRefused(
      async () => {
        throw lost;
      },
      async (e) => void refused.push(e.requestId),
    );
    await expect(write(['a', 'b'].map(event))).rejects.toBe(lost);
    const undefinedTable = Object.assign(new Error('relation "usage_records" does not exist'), { code: '42P01' });
    await expect(
      isolatingRefused(
        async () => {
          throw undefinedTable;
        },
        async (e) => void refused.push(e.requestId),
      )([event('a')]),
    ).rejects.toBe(undefinedTable);
    expect(refused).toEqual([]);
  });

  it('fails the batch when setting an event aside fails, so it is retried', async () => {
    const t = table(new Set(['b']));
    const down = new Error('dead_letters unreachable');
    await expect(
      isolatingRefused(t.write, async () => {
        throw down;
      })(['a', 'b'].map(event)),
    ).rejects.toBe(down);
    expect(t.rows).toEqual(['a']);
  });
});
