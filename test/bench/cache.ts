/**
 * The semantic cache's vector search, and the cache's memory per entry.
 *
 * 1. Exact scan (FlatIndex) against HNSW at growing numbers of vectors in one
 *    search bucket: time per search, time per insert, and how often HNSW gives
 *    the same answer as the exact scan (the same entry above the threshold, or
 *    none). The crossover sets caching.semantic.hnswFrom.
 * 2. Heap used by 100,000 entries in the memory store: exact entries, and
 *    semantic ones with their embedding.
 *
 * Run: npm run bench:cache [-- --dimensions 1536 --sizes 100,1000,5000,20000]
 */
import { parseArgs } from 'node:util';
import { HnswIndex } from '../../services/caching/hnsw.js';
import { MemoryStore, type Entry } from '../../services/caching/store.js';
import { FlatIndex, normalize, type VectorIndex } from '../../services/caching/vectors.js';

const { values } = parseArgs({
  options: {
    dimensions: { type: 'string', default: '1536' },
    sizes: { type: 'string', default: '100,500,1000,2000,5000,10000,20000' },
    queries: { type: 'string', default: '200' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log('npm run bench:cache -- [--dimensions N] [--sizes a,b,c] [--queries N]');
  process.exit(0);
}
const dimensions = Number(values.dimensions);
const sizes = values.sizes!.split(',').map(Number);
const queryCount = Number(values.queries);

/** Clustered vectors, as embeddings of related questions are: a topic centre plus noise. */
function vectors(count: number): Float32Array[] {
  const topics = Array.from({ length: 50 }, () => Array.from({ length: dimensions }, () => Math.random() * 2 - 1));
  return Array.from({ length: count }, () => {
    const topic = topics[Math.floor(Math.random() * topics.length)]!;
    return normalize(topic.map((v) => v + (Math.random() * 2 - 1) * 0.8));
  });
}

function timeEach<T>(items: T[], fn: (item: T) => void): number {
  const started = process.hrtime.bigint();
  for (const item of items) fn(item);
  return Number(process.hrtime.bigint() - started) / items.length / 1000;
}

/** Paraphrase-like queries: stored vectors moved a little (cosine about 0.97), and as many unrelated ones. */
function queriesFor(stored: Float32Array[]): Float32Array[] {
  const near = Array.from({ length: queryCount / 2 }, () => {
    const base = stored[Math.floor(Math.random() * stored.length)]!;
    return normalize(Array.from(base, (v) => v + (Math.random() * 2 - 1) * (0.25 / Math.sqrt(dimensions)) * 2));
  });
  return [...near, ...vectors(queryCount / 2)];
}

function run(size: number, report: boolean): void {
  const stored = vectors(size);
  const queries = queriesFor(stored);
  const flat = new FlatIndex(dimensions);
  const hnsw: VectorIndex = new HnswIndex(dimensions);
  stored.forEach((v, i) => flat.add(`v${i}`, v));
  const insert = timeEach(
    stored.map((v, i) => [v, i] as const),
    ([v, i]) => hnsw.add(`v${i}`, v),
  );
  const truth = queries.map((q) => flat.nearest(q, THRESHOLD)?.id);
  const flatSearch = timeEach(queries, (q) => flat.nearest(q, THRESHOLD));
  const found: (string | undefined)[] = [];
  const hnswSearch = timeEach(queries, (q) => found.push(hnsw.nearest(q, THRESHOLD)?.id));
  const agreed = found.filter((id, i) => id === truth[i]).length / queries.length;
  const hits = truth.filter(Boolean).length;
  if (report) {
    console.log(
      `${String(size).padStart(7)}   ${flatSearch.toFixed(1).padStart(14)}   ${hnswSearch.toFixed(1).padStart(14)}   ${insert.toFixed(1).padStart(14)}   ${agreed.toFixed(3).padStart(9)} (${hits} hits)`,
    );
  }
}

const THRESHOLD = 0.95;
console.log(
  `vector search, ${dimensions} dimensions, ${queryCount} queries per size (half paraphrases of stored vectors), threshold ${THRESHOLD} (Node ${process.version})`,
);
run(2_000, false); // warm up the JIT for both
console.log('vectors   flat µs/search   hnsw µs/search   hnsw µs/insert   hnsw = flat');
for (const size of sizes) run(size, true);

/** Heap plus memory outside it (buffers, typed arrays), after collecting garbage. */
function used(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

function heapFor(count: number, withVector: boolean): number {
  const before = used();
  const store = new MemoryStore({ maxEntries: count, maxBytes: Number.MAX_SAFE_INTEGER });
  const answer = Buffer.alloc(1_200, 'a'); // a typical short chat answer in canonical JSON
  for (let i = 0; i < count; i++) {
    const entry: Entry = {
      id: `ce_${i.toString(16).padStart(16, '0')}`,
      namespace: 'team:search',
      key: `${i}`.padStart(64, '0'),
      bucket: 'b'.repeat(64),
      endpoint: 'chat.completions',
      model: 'openai/gpt-4o-mini',
      keyId: 'vk_0123456789abcdef',
      answer: Buffer.from(answer),
      usage: {
        promptTokens: 20,
        completionTokens: 80,
        totalTokens: 100,
        cachedTokens: 0,
        reasoningTokens: 0,
        cacheWriteTokens: 0,
        cacheWrite1hTokens: 0,
        billed: undefined,
      },
      served: { provider: 'openai', model: 'gpt-4o-mini', deployment: '' },
      createdMs: 0,
      expiresMs: Number.MAX_SAFE_INTEGER,
      hits: 0,
      ...(withVector ? { vector: new Float32Array(dimensions) } : {}),
    };
    store.add(entry);
  }
  const after = used();
  if (store.size !== count) throw new Error('store lost entries');
  return after - before;
}

if (!globalThis.gc) console.log('\n(run with node --expose-gc for steadier memory numbers: npm run bench:cache does)');
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const exact = heapFor(100_000, false);
const semantic = heapFor(100_000, true);
console.log(`\nmemory for 100,000 entries with 1.2 KB answers: exact ${mb(exact)}, semantic (+${dimensions}-dimension embedding) ${mb(semantic)}`);
