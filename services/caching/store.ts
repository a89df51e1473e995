import type { Served, Usage } from '../gen/gateway/v1/common.js';

export interface Entry {
  id: string;
  namespace: string;
  /** Exact-match key (CacheableRequest.key). */
  key: string;
  /** What a semantic match must share exactly (CacheableRequest.bucket). */
  bucket: string;
  endpoint: string;
  model: string;
  keyId: string;
  answer: Buffer;
  usage: Usage | undefined;
  served: Served | undefined;
  createdMs: number;
  expiresMs: number;
  hits: number;
  /** Unit-length embedding of the question, for semantic lookups. */
  vector?: Float32Array;
}

export interface Selector {
  namespace?: string;
  keyId?: string;
  entryId?: string;
}

/** Whether an entry is in a namespace or one of its sub-namespaces ("team:a" covers "team:a/docs"). */
export const inNamespace = (entry: Pick<Entry, 'namespace'>, namespace: string): boolean =>
  entry.namespace === namespace || entry.namespace.startsWith(`${namespace}/`);

export function matches(entry: Entry, selector: Selector): boolean {
  if (selector.entryId && entry.id !== selector.entryId) return false;
  if (selector.namespace && !inNamespace(entry, selector.namespace)) return false;
  if (selector.keyId && entry.keyId !== selector.keyId) return false;
  return true;
}

/** Bytes an entry holds in memory, roughly: its answer, its vector and about 1 KB for the rest (measured by npm run bench:cache). */
export const entrySize = (entry: Entry): number => entry.answer.length + (entry.vector?.byteLength ?? 0) + 1_000;

/**
 * Entries in memory, bounded by count and bytes: a hit moves an entry to the
 * back (a Map keeps insertion order), so the least recently used go first.
 * Expired entries are dropped when met and by sweep(). Namespaces are part of
 * every index key, so one namespace never reads another's entries.
 */
export class MemoryStore {
  private readonly byId = new Map<string, Entry>();
  private readonly byKey = new Map<string, string>();
  private bytes = 0;

  constructor(
    private readonly limits: { maxEntries: number; maxBytes: number },
    private readonly onRemove: (entry: Entry, why: 'evicted' | 'expired' | 'purged' | 'replaced') => void = () => {},
  ) {}

  get size(): number {
    return this.byId.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** The live entry with this exact key in this namespace, marked as just used. */
  getExact(namespace: string, key: string, now: number): Entry | undefined {
    const id = this.byKey.get(`${namespace}\u0000${key}`);
    return id === undefined ? undefined : this.touch(id, now);
  }

  /** The live entry with this id, marked as just used. */
  touch(id: string, now: number): Entry | undefined {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    if (entry.expiresMs <= now) {
      this.remove(entry, 'expired');
      return undefined;
    }
    this.byId.delete(id);
    this.byId.set(id, entry);
    return entry;
  }

  get(id: string): Entry | undefined {
    return this.byId.get(id);
  }

  /** Adds an entry, replacing one with the same key in the namespace, and evicts past the limits. */
  add(entry: Entry): void {
    const existing = this.byKey.get(`${entry.namespace}\u0000${entry.key}`);
    if (existing !== undefined) this.remove(this.byId.get(existing)!, 'replaced');
    const previous = this.byId.get(entry.id);
    if (previous) this.remove(previous, 'replaced');
    this.byId.set(entry.id, entry);
    this.byKey.set(`${entry.namespace}\u0000${entry.key}`, entry.id);
    this.bytes += entrySize(entry);
    for (const oldest of this.byId.values()) {
      if (this.byId.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.remove(oldest, 'evicted');
    }
  }

  /** Removes the entries the selector matches (all of them for an empty selector); returns them. */
  purge(selector: Selector): Entry[] {
    const purged = selector.entryId
      ? [this.byId.get(selector.entryId)].filter((e): e is Entry => e !== undefined && matches(e, selector))
      : this.list(selector);
    for (const entry of purged) this.remove(entry, 'purged');
    return purged;
  }

  list(selector: Selector): Entry[] {
    return [...this.byId.values()].filter((entry) => matches(entry, selector));
  }

  /** Drops expired entries; returns how many. */
  sweep(now: number): number {
    let dropped = 0;
    for (const entry of [...this.byId.values()]) {
      if (entry.expiresMs <= now) {
        this.remove(entry, 'expired');
        dropped++;
      }
    }
    return dropped;
  }

  entries(): IterableIterator<Entry> {
    return this.byId.values();
  }

  private remove(entry: Entry, why: 'evicted' | 'expired' | 'purged' | 'replaced'): void {
    if (this.byId.get(entry.id) !== entry) return;
    this.byId.delete(entry.id);
    const exact = `${entry.namespace}\u0000${entry.key}`;
    if (this.byKey.get(exact) === entry.id) this.byKey.delete(exact);
    this.bytes -= entrySize(entry);
    this.onRemove(entry, why);
  }
}
