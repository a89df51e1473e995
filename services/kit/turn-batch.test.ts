import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
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
    const batch = new TurnBatch<string>((items) => sent.push(items), { weigh: (item) => item.length, max: 10 });
    batch.add('abcd');
    batch.add('efgh');
    expect(sent).toEqual([]);
    batch.add('ijkl');
    expect(sent).toEqual([['abcd', 'efgh', 'ijkl']]);
    batch.add('mn');
    await nextTurn();
    expect(sent).toEqual([['abcd', 'efgh', 'ijkl'], ['mn']]);
  });
});
