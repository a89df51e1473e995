import { describe, expect, it } from 'vitest';
import { storableJsonText, storableText } from './storable.js';

describe('storable text', () => {
  it('replaces U+0000 and unpaired surrogates with U+FFFD, and keeps surrogate pairs', () => {
    expect(storableText('plain')).toBe('plain');
    expect(storableText('a\u0000b\u0000')).toBe('a\ufffdb\ufffd');
    expect(storableText('\ud800x\udc00')).toBe('\ufffdx\ufffd');
    expect(storableText('😀 \ud83d\ude00')).toBe('😀 😀');
    expect(storableText('\ude00\ud83d')).toBe('\ufffd\ufffd');
  });

  it('cleans every string of a JSON value, keys too, and gives its JSON text', () => {
    const clean = { a: ['x', 1, null, { b: true }] };
    expect(storableJsonText(clean)).toEqual({ value: clean, json: JSON.stringify(clean) });
    const dirty = { 'k\u0000': ['v\ud800', { w: 'ok\u0000' }], n: 2 };
    const stored = storableJsonText(dirty);
    expect(stored.value).toEqual({ 'k\ufffd': ['v\ufffd', { w: 'ok\ufffd' }], n: 2 });
    expect(stored.json).toBe(JSON.stringify(stored.value));
    expect(stored.json).not.toMatch(/\\u0000|\\ud8/);
  });

  it('leaves text alone that only looks like those escapes', () => {
    const lookalike = { text: 'a backslash then u0000: \\u0000, and \\ud800' };
    expect(storableJsonText(lookalike).value).toEqual(lookalike);
  });
});
