import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { Reloader } from './reloader.js';

describe('reloading the admin-managed entries', () => {
  it('applies changes heard during a load once more after it, never two loads at once', async () => {
    const reads: string[] = [];
    let stored = 'first';
    let inFlight = 0;
    let mostAtOnce = 0;
    let finish: (() => void) | undefined;
    const reloader = new Reloader(
      async () => {
        mostAtOnce = Math.max(mostAtOnce, ++inFlight);
        const read = stored;
        await new Promise<void>((resolve) => (finish = resolve));
        reads.push(read);
        inFlight--;
      },
      createLogger({ level: 'silent' }),
    );

    const done = reloader.reload();
    stored = 'second';
    void reloader.reload();
    stored = 'third';
    void reloader.reload();
    finish!();
    await new Promise((resolve) => setImmediate(resolve));
    finish!();
    await done;
    // The last load read what was stored last; the changes heard meanwhile cost one load, not two.
    expect(reads).toEqual(['first', 'third']);
    expect(mostAtOnce).toBe(1);
  });
});
