import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../kit/canonical-json.js';
import { cacheKey } from './key.js';
import { ExactStore } from './store.js';

const entry = (text: string, storedAt: number) => ({ body: Buffer.from(text), usage: undefined, served: undefined, storedAt });

describe('cache key', () => {
  it('is the same for requests that differ only in key order or in fields that do not change the answer', () => {
    const a = cacheKey('chat.completions', { model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }], stream: true, user: 'u1' });
    const b = cacheKey('chat.completions', { messages: [{ content: 'hi', role: 'user' }], temperature: 0, model: 'm' });
    expect(a).toBe(b);
  });

  it('differs when anything that changes the answer differs', () => {
    const base = { model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }] };
    const key = cacheKey('chat.completions', base);
    expect(cacheKey('chat.completions', { ...base, model: 'n' })).not.toBe(key);
    expect(cacheKey('chat.completions', { ...base, max_tokens: 5 })).not.toBe(key);
    expect(cacheKey('chat.completions', { ...base, messages: [{ role: 'user', content: 'hi!' }] })).not.toBe(key);
    expect(cacheKey('completions', base)).not.toBe(key);
  });

  it('writes canonical JSON with sorted keys at every level', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });
});

describe('exact store', () => {
  it('keeps namespaces apart', () => {
    const store = new ExactStore(60_000, 10);
    store.set('team:a', 'k', entry('answer for a', 0));
    expect(store.get('team:b', 'k', 1)).toBeUndefined();
    expect(store.get('team:a', 'k', 1)?.body.toString()).toBe('answer for a');
  });

  it('expires entries after the TTL', () => {
    const store = new ExactStore(1_000, 10);
    store.set('n', 'k', entry('x', 0));
    expect(store.get('n', 'k', 999)).toBeDefined();
    expect(store.get('n', 'k', 1_000)).toBeUndefined();
  });

  it('evicts the least recently used entry past its size', () => {
    const store = new ExactStore(60_000, 2);
    store.set('n', 'a', entry('a', 0));
    store.set('n', 'b', entry('b', 0));
    store.get('n', 'a', 1);
    store.set('n', 'c', entry('c', 0));
    expect(store.get('n', 'b', 2)).toBeUndefined();
    expect(store.get('n', 'a', 2)).toBeDefined();
    expect(store.get('n', 'c', 2)).toBeDefined();
    expect(store.size).toBe(2);
  });
});
