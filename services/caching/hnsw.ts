import { dot, type Neighbour, type VectorIndex } from './vectors.js';

/**
 * Hierarchical Navigable Small World graph (Malkov and Yashunin, 2016,
 * arXiv:1603.09320): approximate nearest-neighbour search in about log(n)
 * steps. Each vector joins layers 0..level (level drawn with P(>l) = M^-l) and
 * links to its M nearest on each (2M on layer 0). A search walks greedily
 * down from the top layer, then explores layer 0 keeping the ef best.
 * Removed vectors stay in the graph as waypoints (they are never returned)
 * until they outnumber the live ones, when the graph is rebuilt.
 */

interface GraphNode {
  id: string;
  vector: Float32Array;
  /** Neighbour node numbers, per layer 0..level. */
  links: number[][];
  removed: boolean;
}

/** A binary heap; `before(a, b)` true when a belongs nearer the top. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(item: T): void {
    const items = this.items;
    items.push(item);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      for (let i = 0; ; ) {
        const left = 2 * i + 1;
        const right = left + 1;
        let next = i;
        if (left < items.length && this.before(items[left]!, items[next]!)) next = left;
        if (right < items.length && this.before(items[right]!, items[next]!)) next = right;
        if (next === i) break;
        [items[i], items[next]] = [items[next]!, items[i]!];
        i = next;
      }
    }
    return top;
  }
  toArray(): T[] {
    return [...this.items];
  }
}

type Scored = { node: number; similarity: number };

export interface HnswOptions {
  /** Links per node per layer (twice this on layer 0). */
  m: number;
  /** Candidates kept while inserting: higher builds a better graph, slower. */
  efConstruction: number;
  /** Candidates kept while searching: higher finds the true nearest more often, slower. */
  efSearch: number;
}

export class HnswIndex implements VectorIndex {
  private nodes: GraphNode[] = [];
  private readonly byId = new Map<string, number>();
  private entry = -1;
  private topLevel = -1;
  private removedCount = 0;
  private readonly levelFactor: number;
  // Visited marks by generation, so a search does not allocate a set.
  private visited = new Uint32Array(0);
  private generation = 0;

  constructor(
    private readonly dimensions: number,
    private readonly options: HnswOptions = { m: 16, efConstruction: 64, efSearch: 64 },
    private readonly random: () => number = Math.random,
  ) {
    this.levelFactor = 1 / Math.log(options.m);
  }

  get size(): number {
    return this.byId.size;
  }

  add(id: string, vector: Float32Array): void {
    if (vector.length !== this.dimensions) throw new Error(`expected ${this.dimensions} dimensions, got ${vector.length}`);
    if (this.byId.has(id)) this.remove(id);
    const level = Math.floor(-Math.log(1 - this.random()) * this.levelFactor);
    const node = this.nodes.length;
    this.nodes.push({ id, vector, links: Array.from({ length: level + 1 }, () => []), removed: false });
    this.byId.set(id, node);
    if (this.entry < 0) {
      this.entry = node;
      this.topLevel = level;
      return;
    }
    let current = this.entry;
    for (let layer = this.topLevel; layer > level; layer--) current = this.greedy(vector, current, layer);
    for (let layer = Math.min(level, this.topLevel); layer >= 0; layer--) {
      const found = this.searchLayer(vector, current, this.options.efConstruction, layer);
      const max = layer === 0 ? this.options.m * 2 : this.options.m;
      const chosen = this.diverse(found, max);
      this.nodes[node]!.links[layer] = chosen;
      for (const other of chosen) this.link(other, node, layer, max);
      current = found[0]?.node ?? current;
    }
    if (level > this.topLevel) {
      this.entry = node;
      this.topLevel = level;
    }
  }

  remove(id: string): void {
    const node = this.byId.get(id);
    if (node === undefined) return;
    this.byId.delete(id);
    this.nodes[node]!.removed = true;
    this.removedCount++;
    if (this.byId.size === 0) this.clear();
    else if (this.removedCount > this.byId.size && this.removedCount > 64) this.rebuild();
  }

  nearest(query: Float32Array, minSimilarity: number): Neighbour | undefined {
    if (this.byId.size === 0) return undefined;
    let current = this.entry;
    for (let layer = this.topLevel; layer > 0; layer--) current = this.greedy(query, current, layer);
    const found = this.searchLayer(query, current, Math.max(this.options.efSearch, 1), 0);
    const best = found.find((s) => !this.nodes[s.node]!.removed);
    return best && best.similarity >= minSimilarity ? { id: this.nodes[best.node]!.id, similarity: best.similarity } : undefined;
  }

  /** Adds `to` to the links of `from`; past `max`, keeps a diverse set of them. */
  private link(from: number, to: number, layer: number, max: number): void {
    const links = this.nodes[from]!.links[layer]!;
    links.push(to);
    if (links.length <= max) return;
    const origin = this.nodes[from]!.vector;
    const scored = links.map((n) => ({ node: n, similarity: dot(origin, this.nodes[n]!.vector) })).sort((a, b) => b.similarity - a.similarity);
    this.nodes[from]!.links[layer] = this.diverse(scored, max);
  }

  /**
   * The paper's neighbour heuristic (its algorithm 4): from candidates, most
   * similar first, keep one only if it is more similar to the new node than to
   * any kept so far, so links reach out in several directions (across clusters)
   * rather than all into the nearest clump; then fill up with the nearest left.
   */
  private diverse(candidates: Scored[], max: number): number[] {
    const kept: Scored[] = [];
    const skipped: Scored[] = [];
    for (const candidate of candidates) {
      if (kept.length >= max) break;
      const vector = this.nodes[candidate.node]!.vector;
      if (kept.every((k) => dot(vector, this.nodes[k.node]!.vector) < candidate.similarity)) kept.push(candidate);
      else skipped.push(candidate);
    }
    for (const candidate of skipped) {
      if (kept.length >= max) break;
      kept.push(candidate);
    }
    return kept.map((k) => k.node);
  }

  /** Follows the most similar neighbour on a layer until none is closer. */
  private greedy(query: Float32Array, start: number, layer: number): number {
    let current = start;
    let best = dot(query, this.nodes[current]!.vector);
    for (let improved = true; improved; ) {
      improved = false;
      for (const next of this.nodes[current]!.links[layer] ?? []) {
        const similarity = dot(query, this.nodes[next]!.vector);
        if (similarity > best) {
          best = similarity;
          current = next;
          improved = true;
        }
      }
    }
    return current;
  }

  /** The ef most similar nodes reachable from `start` on a layer, most similar first. */
  private searchLayer(query: Float32Array, start: number, ef: number, layer: number): Scored[] {
    if (this.visited.length < this.nodes.length) this.visited = new Uint32Array(this.nodes.length * 2);
    const mark = ++this.generation;
    this.visited[start] = mark;
    const first = { node: start, similarity: dot(query, this.nodes[start]!.vector) };
    const candidates = new Heap<Scored>((a, b) => a.similarity > b.similarity);
    const results = new Heap<Scored>((a, b) => a.similarity < b.similarity);
    candidates.push(first);
    results.push(first);
    while (candidates.size > 0) {
      const closest = candidates.pop()!;
      if (results.size >= ef && closest.similarity < results.peek()!.similarity) break;
      for (const next of this.nodes[closest.node]!.links[layer] ?? []) {
        if (this.visited[next] === mark) continue;
        this.visited[next] = mark;
        const similarity = dot(query, this.nodes[next]!.vector);
        if (results.size < ef || similarity > results.peek()!.similarity) {
          candidates.push({ node: next, similarity });
          results.push({ node: next, similarity });
          if (results.size > ef) results.pop();
        }
      }
    }
    return results.toArray().sort((a, b) => b.similarity - a.similarity);
  }

  private clear(): void {
    this.nodes = [];
    this.entry = -1;
    this.topLevel = -1;
    this.removedCount = 0;
    this.generation = 0;
    this.visited = new Uint32Array(0);
  }

  /** Builds the graph again from the live vectors only. */
  private rebuild(): void {
    const live = this.nodes.filter((n) => !n.removed);
    this.byId.clear();
    this.clear();
    for (const node of live) this.add(node.id, node.vector);
  }
}
