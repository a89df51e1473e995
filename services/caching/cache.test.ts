import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../kit/canonical-json.js';
import { cachingConfig } from './config.js';
import { cacheableRequest, semanticQuestion, type CacheableRequest } from './request.js';
import { MemoryStore, type Entry } from './store.js';

const question = (endpoint: string, body: Record<string, unknown>) => {
  const result = cacheableRequest(endpoint, Buffer.from(JSON.stringify(body)), false);
  if (typeof result === 'string') throw new Error(result);
  return result;
};
const keyOf = (endpoint: string, body: Record<string, unknown>) => question(endpoint, body).key;

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

describe('cache key', () => {
  it('is the same for requests that differ only in key order or in fields that do not change the answer', () => {
    const a = keyOf('chat.completions', { model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }], stream: true, user: 'u1' });
    const b = keyOf('chat.completions', { messages: [{ content: 'hi', role: 'user' }], temperature: 0, model: 'm' });
    expect(a).toBe(b);
  });

  it('differs when anything that changes the answer differs', () => {
    const base = { model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }] };
    const key = keyOf('chat.completions', base);
    expect(keyOf('chat.completions', { ...base, model: 'n' })).not.toBe(key);
    expect(keyOf('chat.completions', { ...base, max_tokens: 5 })).not.toBe(key);
    expect(keyOf('chat.completions', { ...base, messages: [{ role: 'user', content: 'hi!' }] })).not.toBe(key);
    expect(keyOf('completions', base)).not.toBe(key);
  });

  it('says why a request may not be cached', () => {
    const refuse = (endpoint: string, body: unknown) => cacheableRequest(endpoint, Buffer.from(JSON.stringify(body)), false) as string;
    expect(refuse('chat.completions', { model: 'm', messages: [] })).toBe('temperature is not 0');
    expect(refuse('chat.completions', { model: 'm', temperature: 0, logprobs: true, messages: [] })).toBe('logprobs requested');
    expect(refuse('chat.completions', [1])).toBe('body is not an object');
    expect((cacheableRequest('embeddings', Buffer.from('{"model":"e","input":"x"}'), false) as CacheableRequest).model).toBe('e');
    expect(typeof cacheableRequest('chat.completions', Buffer.from('{"model":"m","temperature":0.7}'), true)).toBe('object');
  });

  it('writes canonical JSON with sorted keys at every level', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });
});

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

describe('semantic question', () => {
  const options = { embeddingModel: 'e', maxChars: 1_000 };
  const ask = (body: Record<string, unknown>, endpoint = 'chat.completions') => semanticQuestion(endpoint, { model: 'm', temperature: 0, ...body }, options);
  const user = (content: unknown) => ({ role: 'user', content });
  const deleteIt = [user('Shall I delete the production database?'), { role: 'assistant', content: 'Are you sure?' }];
  const summary = [user('Do you want a summary of the report?'), { role: 'assistant', content: 'Shall I write one?' }];

  it('compares the last user turn, and puts conversations that end alike but began apart in different buckets', () => {
    const afterDelete = ask({ messages: [...deleteIt, user('yes')] })!;
    const afterSummary = ask({ messages: [...summary, user('yes')] })!;
    expect(afterDelete.text).toBe('yes');
    expect(afterSummary.text).toBe('yes');
    expect(afterSummary.bucket).not.toBe(afterDelete.bucket);
  });

  it('keeps a paraphrase after the same conversation in the same bucket', () => {
    const first = ask({ messages: [...deleteIt, user('yes, go ahead')] })!;
    const paraphrase = ask({ messages: [...deleteIt, user([{ type: 'text', text: 'yes please, go ahead' }])] })!;
    expect(paraphrase.text).toBe('yes please, go ahead');
    expect(paraphrase.bucket).toBe(first.bucket);
  });

  it('puts apart whatever else determines the answer: system prompt, model, parameters, tools, speaker, embedding model', () => {
    const base = { messages: [{ role: 'system', content: 'You are terse.' }, user('hi')], tools: [{ type: 'function', function: { name: 'f' } }] };
    const bucket = ask(base)!.bucket;
    const others = [
      ask({ ...base, messages: [{ role: 'system', content: 'You are verbose.' }, user('hi')] }),
      ask({ ...base, model: 'n' }),
      ask({ ...base, max_tokens: 9 }),
      ask({ ...base, tools: [] }),
      ask({ ...base, messages: [base.messages[0], { ...user('hi'), name: 'bob' }] }),
      semanticQuestion('chat.completions', { model: 'm', temperature: 0, ...base }, { ...options, embeddingModel: 'other' }),
    ];
    for (const other of others) expect(other!.bucket).not.toBe(bucket);
    expect(ask({ ...base, stream: true, user: 'u-1' })!.bucket).toBe(bucket);
  });

  it("splits each API's conversation the same way: instructions and earlier turns exact, the last user turn by meaning", () => {
    const messages = ask({ system: 'Be brief.', messages: [...deleteIt, user('yes')] }, 'messages')!;
    expect(messages.text).toBe('yes');
    expect(ask({ system: 'Be long.', messages: [...deleteIt, user('yes')] }, 'messages')!.bucket).not.toBe(messages.bucket);
    const responses = ask({ input: 'Capital of France?', instructions: 'x' }, 'responses')!;
    expect(responses.text).toBe('Capital of France?');
    expect(ask({ input: 'Capital of France?', instructions: 'y' }, 'responses')!.bucket).not.toBe(responses.bucket);
    expect(ask({ input: [...deleteIt, { role: 'user', content: [{ type: 'input_text', text: 'yes' }] }] }, 'responses')!.text).toBe('yes');
    expect(ask({ prompt: 'The capital of France is' }, 'completions')!.text).toBe('The capital of France is');
  });

  it("is absent when the last turn is not a user's text; earlier turns may hold anything, compared exactly", () => {
    const image = user([
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } },
    ]);
    expect(ask({ messages: [image] })).toBeUndefined();
    expect(ask({ messages: deleteIt })).toBeUndefined();
    expect(ask({ messages: [...deleteIt, user('  ')] })).toBeUndefined();
    expect(ask({ input: 'x' }, 'embeddings')).toBeUndefined();
    expect(ask({ messages: [image, { role: 'assistant', content: 'A cat.' }, user('and this?')] })!.text).toBe('and this?');
  });

  it('takes a floor for the threshold at most the threshold itself, which it defaults to', () => {
    expect(cachingConfig.safeParse({ semantic: { threshold: 0.9, minThreshold: 0.95 } }).success).toBe(false);
    expect(cachingConfig.parse({ semantic: { threshold: 0.9, minThreshold: 0.8 } }).semantic.minThreshold).toBe(0.8);
  });

  it('keeps the end of a text longer than the limit', () => {
    expect(semanticQuestion('chat.completions', { model: 'm', messages: [user(`${'a'.repeat(50)}END`)] }, { ...options, maxChars: 10 })!.text).toBe(
      'aaaaaaaEND',
    );
  });
});
