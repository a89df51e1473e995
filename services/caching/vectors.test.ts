import { describe, expect, it } from 'vitest';
import { HnswIndex } from './hnsw.js';
import { SemanticIndex } from './semantic.js';
import { FlatIndex, normalize, type VectorIndex } from './vectors.js';

/** A seeded generator (mulberry32), so the data and the graph are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const randomVectors = (count: number, dimensions: number, random: () => number) =>
  Array.from({ length: count }, () => normalize(Array.from({ length: dimensions }, () => random() * 2 - 1)));

describe.each([
  ['flat', (d: number) => new FlatIndex(d)],
  ['hnsw', (d: number) => new HnswIndex(d, { m: 16, efConstruction: 100, efSearch: 64 }, seeded(7))],
] as const)('%s index', (_, create: (dimensions: number) => VectorIndex) => {
  it('finds an added vector, honours the threshold, and forgets removed ones', () => {
    const index = create(3);
    index.add('x', normalize([1, 0, 0]));
    index.add('y', normalize([0, 1, 0]));
    index.add('xy', normalize([1, 1, 0]));
    expect(index.nearest(normalize([1, 0.1, 0]), 0.9)).toMatchObject({ id: 'x' });
    expect(index.nearest(normalize([1, 0.1, 0]), 0.9)!.similarity).toBeCloseTo(0.995, 3);
    expect(index.nearest(normalize([0, 0, 1]), 0.5)).toBeUndefined();
    index.remove('x');
    expect(index.nearest(normalize([1, 0.1, 0]), 0.5)).toMatchObject({ id: 'xy' });
    expect(index.size).toBe(2);
    index.add('xy', normalize([0, 0, 1]));
    expect(index.size).toBe(2);
    expect(index.nearest(normalize([0, 0, 1]), 0.99)).toMatchObject({ id: 'xy' });
  });

  it('finds the true nearest neighbour of most queries among thousands, through removals', () => {
    const random = seeded(42);
    const vectors = randomVectors(3_000, 32, random);
    const index = create(32);
    const exact = new FlatIndex(32);
    vectors.forEach((v, i) => {
      index.add(`v${i}`, v);
      exact.add(`v${i}`, v);
    });
    for (let i = 0; i < 2_000; i += 2) {
      index.remove(`v${i}`);
      exact.remove(`v${i}`);
    }
    const queries = randomVectors(200, 32, random);
    const agreed = queries.filter((q) => index.nearest(q, -1)?.id === exact.nearest(q, -1)?.id).length;
    expect(agreed / queries.length).toBeGreaterThanOrEqual(0.95);
    expect(index.size).toBe(2_000);
  });
});

describe('semantic index', () => {
  const entry = (id: string, vector: number[], namespace = 'team:a') => ({
    id,
    namespace,
    key: id,
    bucket: 'params',
    endpoint: 'chat.completions',
    model: 'm',
    keyId: 'vk',
    answer: Buffer.alloc(0),
    usage: undefined,
    served: undefined,
    createdMs: 0,
    expiresMs: 1,
    hits: 0,
    vector: normalize(vector),
  });

  it('searches within one namespace, model and parameter bucket, by scan and then by graph once built', async () => {
    const index = new SemanticIndex(4);
    const random = seeded(3);
    const stored = Array.from({ length: 12 }, (_, i) =>
      entry(
        `e${i}`,
        Array.from({ length: 16 }, () => random() - 0.5),
      ),
    );
    stored.forEach((e) => index.add(e));
    index.add(entry('other-team', Array.from(stored[0]!.vector), 'team:b'));
    while (!index.settled) await new Promise((resolve) => setImmediate(resolve));
    const where = { namespace: 'team:a', model: 'm', bucket: 'params' };
    expect(index.nearest(where, stored[5]!.vector, 0.99)).toMatchObject({ id: 'e5' });
    expect(index.nearest({ ...where, model: 'n' }, stored[5]!.vector, 0.5)).toBeUndefined();
    expect(index.nearest({ ...where, namespace: 'team:b' }, stored[5]!.vector, 0.99)).toBeUndefined();
    for (const e of stored.slice(0, 11)) index.remove(e);
    expect(index.nearest(where, stored[11]!.vector, 0.99)).toMatchObject({ id: 'e11' });
    expect(index.nearest(where, stored[0]!.vector, 0.99)).toBeUndefined();
  });
});
