import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { EventBatch } from '../../gen/gateway/v1/events.js';
import { decodeEvent, encodeEvent, type Event } from '../events.js';

/** Header of a message that holds an EventBatch: how many events it holds. */
export const BATCH_HEADER = 'Gateway-Events';

/**
 * Largest message built: about a hundred request events, far under the NATS
 * server's default max_payload of 1 MB (the bus builds smaller ones for a
 * server or stream set lower), and small enough that what a durable consumer pulls
 * ahead (twice its maxBatch in messages) stays tens of megabytes. One event
 * larger than this still goes alone in its own message.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** EventBatch's field 1 (events), length-delimited. */
const EVENTS_TAG = (1 << 3) | 2;

export interface EventMessage {
  /** The type of every event in it (the subject's last part). */
  type: string;
  /**
   * The JetStream message id: the event's id for one event, the first and last
   * ids for several. The same events in the same order always make the same
   * messages, so a retried publish is stored once.
   */
  id: string;
  /** Events in the message; 1 means a plain Event, without the batch header. */
  count: number;
  /** The events themselves, for their trace context (event-traces.ts). */
  events: readonly Event[];
  data: Uint8Array;
}

/**
 * Packs events into as few messages as their order allows: each run of
 * consecutive events of one type becomes one EventBatch (split at
 * maxBytes), so a turn's events cost one publish, one delivery and one ack
 * per consumer instead of one each.
 */
export function packEvents(events: readonly Event[], maxBytes = MAX_MESSAGE_BYTES): EventMessage[] {
  const messages: EventMessage[] = [];
  let run: { events: Event[]; encoded: Uint8Array[]; bytes: number } | undefined;
  const close = () => {
    if (!run) return;
    messages.push(messageOf(run.events, run.encoded));
    run = undefined;
  };
  for (const event of events) {
    const encoded = encodeEvent(event);
    if (run && (run.events[0]!.type !== event.type || run.bytes + encoded.length > maxBytes)) close();
    run ??= { events: [], encoded: [], bytes: 0 };
    run.events.push(event);
    run.encoded.push(encoded);
    // The field's tag and length take at most 6 bytes besides the event.
    run.bytes += encoded.length + 6;
  }
  close();
  return messages;
}

function messageOf(events: Event[], encoded: Uint8Array[]): EventMessage {
  const first = events[0]!;
  if (events.length === 1) return { type: first.type, id: first.id, count: 1, events, data: encoded[0]! };
  const writer = new BinaryWriter();
  for (const bytes of encoded) writer.uint32(EVENTS_TAG).bytes(bytes);
  return { type: first.type, id: `${first.id}..${events.at(-1)!.id}`, count: events.length, events, data: writer.finish() };
}

/** The events of a message: an EventBatch when it carries the batch header, else one Event. */
export function unpackEvents(data: Uint8Array, batchHeader: string | undefined): Event[] {
  return batchHeader ? EventBatch.decode(data).events : [decodeEvent(data)];
}
