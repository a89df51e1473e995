import { HnswIndex } from './hnsw.js';
import type { Entry } from './store.js';
import { FlatIndex, type Neighbour } from './vectors.js';

/**
 * The vector side of the semantic cache. Entries are searched only within
 * their bucket: the same namespace, model, request parameters (everything but
 * the conversation) and embedding size, so a semantic hit never crosses
 * tenants or answers with another model or other tools.
 *
 * A bucket is scanned exactly (FlatIndex) while small; from `hnswFrom`
 * vectors it also gets an HNSW graph, which answers searches once it has
 * caught up. Inserting into the graph costs milliseconds, so it is done in
 * the background, a few milliseconds of work per turn of the event loop.
 */

const BUILD_SLICE_MS = 8;

class Bucket {
  readonly flat: FlatIndex;
  graph: HnswIndex | undefined;
  /** Ids in flat but not yet in the graph. */
  readonly pending = new Set<string>();

  constructor(readonly dimensions: number) {
    this.flat = new FlatIndex(dimensions);
  }
}

export class SemanticIndex {
  private readonly buckets = new Map<string, Bucket>();
  private readonly vectors = new Map<string, Float32Array>();
  private building = false;

  constructor(private readonly hnswFrom: number) {}

  static bucketOf(entry: Pick<Entry, 'namespace' | 'model' | 'bucket'>, dimensions: number): string {
    return `${entry.namespace}\u0000${entry.model}\u0000${entry.bucket}\u0000${dimensions}`;
  }

  add(entry: Entry): void {
    if (!entry.vector) return;
    const name = SemanticIndex.bucketOf(entry, entry.vector.length);
    let bucket = this.buckets.get(name);
    if (!bucket) this.buckets.set(name, (bucket = new Bucket(entry.vector.length)));
    bucket.flat.add(entry.id, entry.vector);
    this.vectors.set(entry.id, entry.vector);
    if (bucket.graph || bucket.flat.size >= this.hnswFrom) {
      bucket.graph ??= new HnswIndex(bucket.dimensions);
      if (bucket.pending.size === 0 && bucket.graph.size === 0) for (const [id] of bucket.flat.entries()) bucket.pending.add(id);
      bucket.pending.add(entry.id);
      this.scheduleBuild();
    }
  }

  remove(entry: Entry): void {
    if (!entry.vector) return;
    const name = SemanticIndex.bucketOf(entry, entry.vector.length);
    const bucket = this.buckets.get(name);
    if (!bucket) return;
    bucket.flat.remove(entry.id);
    bucket.graph?.remove(entry.id);
    bucket.pending.delete(entry.id);
    this.vectors.delete(entry.id);
    if (bucket.flat.size === 0) this.buckets.delete(name);
    else if (bucket.graph && bucket.flat.size < this.hnswFrom / 2) {
      // Small again: the scan is faster, and the graph's memory is freed.
      bucket.graph = undefined;
      bucket.pending.clear();
    }
  }

  nearest(where: Pick<Entry, 'namespace' | 'model' | 'bucket'>, query: Float32Array, minSimilarity: number): Neighbour | undefined {
    const bucket = this.buckets.get(SemanticIndex.bucketOf(where, query.length));
    if (!bucket) return undefined;
    const ready = bucket.graph && bucket.pending.size === 0;
    return ready ? bucket.graph!.nearest(query, minSimilarity) : bucket.flat.nearest(query, minSimilarity);
  }

  /** Whether every bucket's graph has caught up (for tests and the benchmark). */
  get settled(): boolean {
    return !this.building;
  }

  private scheduleBuild(): void {
    if (this.building) return;
    this.building = true;
    setImmediate(() => this.buildSlice());
  }

  private buildSlice(): void {
    const deadline = performance.now() + BUILD_SLICE_MS;
    for (const bucket of this.buckets.values()) {
      for (const id of bucket.pending) {
        if (performance.now() > deadline) return void setImmediate(() => this.buildSlice());
        const vector = this.vectors.get(id);
        if (vector) bucket.graph?.add(id, vector);
        bucket.pending.delete(id);
      }
    }
    this.building = false;
  }
}
