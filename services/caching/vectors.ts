/**
 * Nearest-neighbour search over unit-length embeddings, where cosine
 * similarity is the dot product. Two kinds: an exact scan over one contiguous
 * Float32Array, and HNSW (hnsw.ts). Which is faster depends on how many
 * vectors one search covers; `npm run bench:vectors` measures it and
 * docs/caching.md has the numbers behind the default crossover.
 */

export interface Neighbour {
  id: string;
  similarity: number;
}

export interface VectorIndex {
  readonly size: number;
  add(id: string, vector: Float32Array): void;
  remove(id: string): void;
  /** The most similar vector, if any reaches minSimilarity. */
  nearest(query: Float32Array, minSimilarity: number): Neighbour | undefined;
}

export function dot(a: Float32Array, b: Float32Array): number {
  // Four running sums: independent additions keep the CPU's pipeline full.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = a.length;
  const whole = n - (n % 4);
  let i = 0;
  for (; i < whole; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + s2 + s3;
}

/** The vector scaled to unit length (a zero vector stays zero). */
export function normalize(vector: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(vector);
  let norm = 0;
  for (const v of out) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= norm;
  return out;
}

/** Exact search: every vector compared, in order. Removal moves the last vector into the hole. */
export class FlatIndex implements VectorIndex {
  private readonly ids: string[] = [];
  private readonly vectors: Float32Array[] = [];
  private readonly slots = new Map<string, number>();

  constructor(private readonly dimensions: number) {}

  get size(): number {
    return this.ids.length;
  }

  add(id: string, vector: Float32Array): void {
    if (vector.length !== this.dimensions) throw new Error(`expected ${this.dimensions} dimensions, got ${vector.length}`);
    if (this.slots.has(id)) this.remove(id);
    this.slots.set(id, this.ids.length);
    this.ids.push(id);
    this.vectors.push(vector);
  }

  remove(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    const lastId = this.ids.pop()!;
    const lastVector = this.vectors.pop()!;
    this.slots.delete(id);
    if (lastId !== id) {
      this.ids[slot] = lastId;
      this.vectors[slot] = lastVector;
      this.slots.set(lastId, slot);
    }
  }

  /** Every (id, vector), for building another index from this one. */
  *entries(): Generator<[string, Float32Array]> {
    for (let i = 0; i < this.ids.length; i++) yield [this.ids[i]!, this.vectors[i]!];
  }

  nearest(query: Float32Array, minSimilarity: number): Neighbour | undefined {
    let best = -Infinity;
    let bestSlot = -1;
    for (let slot = 0; slot < this.vectors.length; slot++) {
      const similarity = dot(query, this.vectors[slot]!);
      if (similarity > best) {
        best = similarity;
        bestSlot = slot;
      }
    }
    return bestSlot >= 0 && best >= minSimilarity ? { id: this.ids[bestSlot]!, similarity: best } : undefined;
  }
}

/** float32 little-endian bytes (the layout on every platform Node.js runs on), as gRPC and PostgreSQL carry them. */
export const packVector = (vector: Float32Array): Buffer => Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);

/** A copy, so the vector does not pin the message or row it came in. */
export function unpackVector(bytes: Uint8Array): Float32Array | undefined {
  if (bytes.length === 0 || bytes.length % 4 !== 0) return undefined;
  return new Float32Array(new Uint8Array(bytes).buffer);
}
