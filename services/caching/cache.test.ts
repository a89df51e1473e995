import { describe, expect, it } from 'vitest';
import { cachingConfig } from './config.js';
import { MemoryStore, type Entry } from './store.js';

let ids = 0;
function entry(namespace: string, key: string, text: string, createdMs = 0, ttlMs = 60_000): Entry {
  return {
    id: `ce_${++ids}`,
    namespace,
    key,
    bucket: 'b',
    endpoint: 'chat.completions',
    model: 'm',
    keyId: 'vk_1',
    answer: Buffer.from(text),
    usage: undefined,
    served: undefined,
    createdMs,
    expiresMs: createdMs + ttlMs,
    hits: 0,
  };
}

describe('memory store', () => {
  const limits = { maxEntries: 10, maxBytes: 1_000_000 };

  it('keeps namespaces apart', () => {
    const store = new MemoryStore(limits);
    store.add(entry('team:a', 'k', 'answer for a'));
    expect(store.getExact('team:b', 'k', 1)).toBeUndefined();
    expect(store.getExact('team:a', 'k', 1)?.answer.toString()).toBe('answer for a');
  });

  it('expires entries at their own deadline', () => {
    const store = new MemoryStore(limits);
    store.add(entry('n', 'short', 'x', 0, 1_000));
    store.add(entry('n', 'long', 'y', 0, 5_000));
    expect(store.getExact('n', 'short', 999)).toBeDefined();
    expect(store.getExact('n', 'short', 1_000)).toBeUndefined();
    expect(store.getExact('n', 'long', 1_000)).toBeDefined();
    expect(store.sweep(5_000)).toBe(1);
    expect(store.size).toBe(0);
  });

  it('evicts the least recently used past its entry count or its bytes', () => {
    const removed: string[] = [];
    const store = new MemoryStore({ maxEntries: 2, maxBytes: 1_000_000 }, (e, why) => removed.push(`${e.key}:${why}`));
    store.add(entry('n', 'a', 'a'));
    store.add(entry('n', 'b', 'b'));
    store.getExact('n', 'a', 1);
    store.add(entry('n', 'c', 'c'));
    expect(store.getExact('n', 'b', 2)).toBeUndefined();
    expect(store.getExact('n', 'a', 2)).toBeDefined();
    expect(removed).toEqual(['b:evicted']);

    const small = new MemoryStore({ maxEntries: 100, maxBytes: 3_500 });
    for (const key of ['a', 'b', 'c']) small.add(entry('n', key, 'x'.repeat(600)));
    expect(small.size).toBe(2);
    expect(small.sizeBytes).toBeLessThanOrEqual(3_500);
  });

  it('replaces an entry stored again under the same key', () => {
    const store = new MemoryStore(limits);
    store.add(entry('n', 'k', 'old'));
    store.add(entry('n', 'k', 'new'));
    expect(store.size).toBe(1);
    expect(store.getExact('n', 'k', 1)?.answer.toString()).toBe('new');
  });

  it('purges by namespace with its sub-namespaces, by key, or one entry', () => {
    const store = new MemoryStore(limits);
    const docs = entry('team:a/docs', 'k1', '1');
    store.add(docs);
    store.add(entry('team:a', 'k2', '2'));
    store.add(entry('team:ab', 'k3', '3'));
    store.add({ ...entry('team:b', 'k4', '4'), keyId: 'vk_2' });
    expect(store.purge({ entryId: docs.id }).map((e) => e.key)).toEqual(['k1']);
    store.add(entry('team:a/docs', 'k1', '1'));
    expect(
      store
        .purge({ namespace: 'team:a' })
        .map((e) => e.key)
        .sort(),
    ).toEqual(['k1', 'k2']);
    expect(store.purge({ keyId: 'vk_2' }).map((e) => e.key)).toEqual(['k4']);
    expect(store.list({}).map((e) => e.namespace)).toEqual(['team:ab']);
  });
});

describe('config', () => {
  it('takes a floor for the semantic threshold at most the threshold itself, which it defaults to', () => {
    expect(cachingConfig.safeParse({ semantic: { threshold: 0.9, minThreshold: 0.95 } }).success).toBe(false);
    expect(cachingConfig.parse({ semantic: { threshold: 0.9, minThreshold: 0.8 } }).semantic.minThreshold).toBe(0.8);
    expect(cachingConfig.parse({ semantic: { threshold: 0.9 } }).semantic.minThreshold).toBeUndefined();
  });
});
