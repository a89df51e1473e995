import type { Served, Usage } from '../gen/gateway/v1/common.js';

export interface Entry {
  body: Buffer;
  usage: Usage | undefined;
  served: Served | undefined;
  storedAt: number;
}

/**
 * In-memory exact-match entries with a TTL, evicting the least recently used
 * past maxEntries (a Map keeps insertion order; a hit re-inserts the entry).
 * Namespaces are part of the map key, so one namespace can never read
 * another's entries.
 */
export class ExactStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(namespace: string, key: string, now = Date.now()): Entry | undefined {
    const id = `${namespace}\u0000${key}`;
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    if (now - entry.storedAt >= this.ttlMs) return undefined;
    this.entries.set(id, entry);
    return entry;
  }

  set(namespace: string, key: string, entry: Entry): void {
    const id = `${namespace}\u0000${key}`;
    this.entries.delete(id);
    this.entries.set(id, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
