import { isDataError } from '../db/storable.js';
import { PublishRefused } from './types.js';

/** A batch its receiver refuses for what it holds, never to be taken by retrying: where, when the receiver says (the position of the first item refused). */
export interface RefusedForGood {
  at?: number;
}

/** PostgreSQL refuses a batch for what it holds (a data exception): it does not say which row. */
export const refusedByPostgres = (err: unknown): RefusedForGood | undefined => (isDataError(err) ? {} : undefined);

/** The bus refuses events for what they are (too large for it), and may say which. */
export const refusedByBus = (err: unknown): RefusedForGood | undefined => (err instanceof PublishRefused ? { at: err.at } : undefined);

/**
 * A batch writer that, when the receiver refuses what a batch holds (an error
 * `refusalOf` recognizes; no retry can cure it), writes the batch in parts, in
 * order, down to the one item it refuses on its own, which goes to `refused`:
 * one bad item never holds up the items behind it. The parts are the items
 * before the one the refusal names, that item, and those after; or halves,
 * when it names none. Other errors (a lost connection) fail the batch, to be
 * retried whole.
 */
export function isolatingRefused<T>(
  write: (items: T[]) => Promise<void>,
  refusalOf: (err: unknown) => RefusedForGood | undefined,
  refused: (item: T, err: Error) => Promise<void>,
): (items: T[]) => Promise<void> {
  const writeIsolating = async (items: T[]): Promise<void> => {
    if (items.length === 0) return;
    try {
      await write(items);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      if (items.length === 1) return refused(items[0]!, err as Error);
      const at = refusal.at;
      const parts =
        at !== undefined && Number.isInteger(at) && at >= 0 && at < items.length
          ? [items.slice(0, at), items.slice(at, at + 1), items.slice(at + 1)]
          : [items.slice(0, Math.ceil(items.length / 2)), items.slice(Math.ceil(items.length / 2))];
      for (const part of parts) await writeIsolating(part);
    }
  };
  return writeIsolating;
}
