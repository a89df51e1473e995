import type { RefusedForGood } from '../../kit/bus/refusals.js';

/**
 * The receiver refused what a batch holds, not the sender: sent again
 * unchanged it would be refused again (too large for it, or an event it
 * cannot take). The sink then sends the batch in parts, down to an event it
 * refuses on its own. `at` is the position of the first event it refused,
 * when it says.
 */
export class RefusedByReceiver extends Error {
  constructor(
    message: string,
    readonly at?: number,
  ) {
    super(message);
    this.name = 'RefusedByReceiver';
  }
}

export const refusedByReceiver = (err: unknown): RefusedForGood | undefined => (err instanceof RefusedByReceiver ? { at: err.at } : undefined);
