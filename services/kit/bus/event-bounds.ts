import type { Event } from '../events.js';

/** How far an event's strings and lists may go before they are cut. */
interface Bounds {
  /** Longest string kept whole, in UTF-16 code units; a longer one keeps its start and a marker, within this length. */
  fieldChars: number;
  /** Longest list kept whole; a longer one keeps its first items, a placeholder saying how many were left out, and its last item. */
  listItems: number;
}

/** Every event: no string longer than this. */
const EVENT_BOUNDS: Bounds = { fieldChars: 16_384, listItems: Number.POSITIVE_INFINITY };

/** An event whose strings, once cut, still total more than this is reduced as a whole. */
const EVENT_TOTAL_CHARS = 32_768;

/** The reduced form: short enough for any bus, long enough that the audit row says what happened. */
const REDUCED_BOUNDS: Bounds = { fieldChars: 256, listItems: 8 };

/**
 * The event as the bus carries it: every string within 16,384 UTF-16 code
 * units (so at most 48 KiB of UTF-8), and, when its strings still total more
 * than 32,768, its reduced form. What is cut ends with a marker saying how
 * much. The same event when nothing needs cutting, as for nearly every one.
 */
export function boundedEvent(event: Event): Event {
  const cutter = new Cutter(EVENT_BOUNDS);
  const bounded = cutter.value(event) as Event;
  return cutter.chars > EVENT_TOTAL_CHARS ? reducedEvent(event) : bounded;
}

/** The event with every string cut to 256 code units and every list to 8 items: for a bus that refused its bounded form. */
export function reducedEvent(event: Event): Event {
  return new Cutter(REDUCED_BOUNDS).value(event) as Event;
}

/**
 * Walks an event as its generated types shape it (plain objects, arrays,
 * strings, numbers, Dates), copying only what it cuts, and counts the
 * characters it keeps. Generic, so a field added to the schema is bounded too.
 */
class Cutter {
  chars = 0;

  constructor(private readonly bounds: Bounds) {}

  value(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) return this.list(value);
    return Object.getPrototypeOf(value) === Object.prototype ? this.record(value as Record<string, unknown>) : value;
  }

  private text(text: string): string {
    const kept = text.length > this.bounds.fieldChars ? cutText(text, this.bounds.fieldChars) : text;
    this.chars += kept.length;
    return kept;
  }

  private record(record: Record<string, unknown>): Record<string, unknown> {
    let copy: Record<string, unknown> | undefined;
    for (const key in record) {
      const item = record[key];
      const bounded = this.value(item);
      if (bounded !== item) (copy ??= { ...record })[key] = bounded;
    }
    return copy ?? record;
  }

  private list(items: unknown[]): unknown[] {
    const { listItems } = this.bounds;
    // The last item stays: of a request's attempts, the one that decided how it ended.
    const kept =
      items.length > listItems
        ? [
            ...items.slice(0, listItems - 2),
            placeholderLike(items[listItems - 2], `…[truncated: ${grouped(items.length - listItems + 1)} more items]`),
            items.at(-1),
          ]
        : items;
    let copy: unknown[] | undefined;
    for (let i = 0; i < kept.length; i++) {
      const bounded = this.value(kept[i]);
      if (bounded !== kept[i]) (copy ??= [...kept])[i] = bounded;
    }
    return copy ?? kept;
  }
}

/** What a string cut by an earlier bound ends with: cutting it again counts what that cut left out too. */
const EARLIER_CUT = /…\[truncated: ([\d,]+) more characters\]$/;

/** The start of `text` and a marker saying how much was left out, `limit` code units at most, never splitting a surrogate pair. */
function cutText(text: string, limit: number): string {
  const tail = text.slice(-64);
  const earlier = EARLIER_CUT.exec(tail);
  const body = earlier ? text.slice(0, text.length - tail.length + earlier.index) : text;
  const cutBefore = earlier ? Number(earlier[1]!.replaceAll(',', '')) : 0;
  // Room for the longest marker it could need, so the result stays within the limit.
  let keep = Math.max(0, limit - marker(body.length + cutBefore).length);
  const last = body.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep--;
  return body.slice(0, keep) + marker(body.length - keep + cutBefore);
}

const marker = (leftOut: number) => `…[truncated: ${grouped(leftOut)} more characters]`;

const grouped = (count: number) => count.toLocaleString('en-US');

/** An item shaped like `item` that holds only the marker: in its every string, with numbers 0 and flags false. */
function placeholderLike(item: unknown, text: string): unknown {
  if (typeof item === 'string') return text;
  if (typeof item === 'number') return 0;
  if (typeof item === 'boolean') return false;
  if (Array.isArray(item)) return [];
  if (typeof item !== 'object' || item === null || Object.getPrototypeOf(item) !== Object.prototype) return item;
  const placeholder: Record<string, unknown> = {};
  for (const key in item) placeholder[key] = placeholderLike((item as Record<string, unknown>)[key], text);
  return placeholder;
}
