import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { TurnBatch } from './turn-batch.js';

describe('turn batch', () => {
  it('hands over what one turn added together, and the next turn on its own', async () => {
    const sent: number[][] = [];
    const batch = new TurnBatch<number>((items) => sent.push(items));
    batch.add(1);
    batch.add(2);
    expect(batch.size).toBe(2);
    expect(sent).toEqual([]);
    await nextTurn();
    batch.add(3);
    await nextTurn();
    expect(sent).toEqual([[1, 2], [3]]);
  });

  it('hands over at once when flushed, and not again at the end of the turn', async () => {
    const sent: string[][] = [];
    const batch = new TurnBatch<string>((items) => sent.push(items));
    batch.add('a');
    batch.flush();
    expect(sent).toEqual([['a']]);
    await nextTurn();
    expect(sent).toEqual([['a']]);
    expect(batch.size).toBe(0);
  });

  it('hands over at once a batch that reaches its weight limit, and the rest at the end of the turn', async () => {
    const sent: string[][] = [];
    const batch = new TurnBatch<string>((items) => sent.push(items), { limit: { weigh: (item) => item.length, max: 10 } });
    batch.add('abcd');
    batch.add('efgh');
    expect(sent).toEqual([]);
    batch.add('ijkl');
    expect(sent).toEqual([['abcd', 'efgh', 'ijkl']]);
    batch.add('mn');
    await nextTurn();
    expect(sent).toEqual([['abcd', 'efgh', 'ijkl'], ['mn']]);
  });

  it('with a linger, waits that long after the first item, across turns, and a flush sends at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const sent: number[][] = [];
      const batch = new TurnBatch<number>((items) => sent.push(items), { lingerMs: 20 });
      batch.add(1);
      await nextTurn();
      batch.add(2);
      vi.advanceTimersByTime(19);
      expect(sent).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(sent).toEqual([[1, 2]]);
      batch.add(3);
      batch.flush();
      expect(sent).toEqual([[1, 2], [3]]);
      // The flushed batch's timer is gone: a new item waits its own full linger.
      vi.advanceTimersByTime(10);
      batch.add(4);
      vi.advanceTimersByTime(19);
      expect(sent).toEqual([[1, 2], [3]]);
      vi.advanceTimersByTime(1);
      expect(sent).toEqual([[1, 2], [3], [4]]);
    } finally {
      vi.useRealTimers();
    }
  });
});
