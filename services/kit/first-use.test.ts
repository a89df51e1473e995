import { describe, expect, it } from 'vitest';
import { onFirstUse } from './first-use.js';

describe('onFirstUse', () => {
  it('loads nothing until asked, then once for every caller, and again after a failed load', async () => {
    let loads = 0;
    let fail = true;
    const load = onFirstUse(async () => {
      loads++;
      if (fail) throw new Error('not installed');
      return { loaded: loads };
    });
    expect(loads).toBe(0);
    await expect(load()).rejects.toThrow('not installed');
    fail = false;
    const [a, b] = await Promise.all([load(), load()]);
    expect(a).toBe(b);
    expect(await load()).toEqual({ loaded: 2 });
    expect(loads).toBe(2);
  });
});
