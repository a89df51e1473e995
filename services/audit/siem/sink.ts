import type { Event } from '../../kit/events.js';

/** One event and its formatted record. */
export interface Delivery {
  event: Event;
  record: string;
}

/**
 * A SIEM transport: deliver() resolves only once the whole batch was sent,
 * else throws: RefusedByReceiver when the receiver refused what the batch
 * holds, anything else when it could not take it now.
 */
export interface Sink {
  deliver(batch: readonly Delivery[]): Promise<void>;
  close(): Promise<void>;
}
