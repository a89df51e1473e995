import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../kit/canonical-json.js';
import { cacheableRequest, semanticQuestion, type CacheableRequest } from './cache-request.js';

const question = (endpoint: string, body: Record<string, unknown>) => {
  const result = cacheableRequest(endpoint, body, false);
  if (typeof result === 'string') throw new Error(result);
  return result;
};
const keyOf = (endpoint: string, body: Record<string, unknown>) => question(endpoint, body).key;

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
    const refuse = (endpoint: string, body: Record<string, unknown>) => cacheableRequest(endpoint, body, false) as string;
    expect(refuse('chat.completions', { model: 'm', messages: [] })).toBe('temperature is not 0');
    expect(refuse('chat.completions', { model: 'm', temperature: 0, logprobs: true, messages: [] })).toBe('logprobs requested');
    expect((cacheableRequest('embeddings', { model: 'e', input: 'x' }, false) as CacheableRequest).model).toBe('e');
    expect(typeof cacheableRequest('chat.completions', { model: 'm', temperature: 0.7 }, true)).toBe('object');
  });

  it('writes canonical JSON with sorted keys at every level', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
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

  it('keeps the end of a text longer than the limit', () => {
    expect(semanticQuestion('chat.completions', { model: 'm', messages: [user(`${'a'.repeat(50)}END`)] }, { ...options, maxChars: 10 })!.text).toBe(
      'aaaaaaaEND',
    );
  });
});
