import { describe, expect, it } from 'vitest';
import { CanonicalText, canonicalJson } from './canonical-json.js';

/** The definition, written the slow and obvious way: sorted keys, every part through JSON.stringify. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${reference((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A deterministic pseudo-random generator, so a failure can be replayed. */
function generator(seed: number) {
  let state = seed;
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const text = () => String.fromCharCode(...Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() ** 3 * 0xffff)));
  const value = (depth: number): unknown => {
    const kind = Math.floor(next() * (depth > 2 ? 5 : 7));
    if (kind === 0) return null;
    if (kind === 1) return next() < 0.5;
    if (kind === 2) return [0, -0, 1e21, 1e-7, 0.1 + 0.2, -12345, Number.MAX_SAFE_INTEGER, next() * 1e6][Math.floor(next() * 8)];
    if (kind === 3 || kind === 4) return text();
    if (kind === 5) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
    // Mostly small objects, sometimes large ones (sorted another way).
    return Object.fromEntries(
      Array.from({ length: Math.floor(next() * (next() < 0.1 ? 30 : 5)) }, () => [next() < 0.3 ? String(Math.floor(next() * 20)) : text(), value(depth + 1)]),
    );
  };
  return () => value(0);
}

describe('canonical JSON', () => {
  it('gives equal text for equal values whatever the order of their keys', () => {
    const a = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], options: { b: 1, a: [true, null] } };
    const b = { options: { a: [true, null], b: 1 }, messages: [{ content: 'hi', role: 'user' }], model: 'gpt-4o' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o","options":{"a":[true,null],"b":1}}');
  });

  it('writes the text audit-chain hashes already cover: escapes, numbers, integer-like keys, undefined left out', () => {
    const value = {
      '10': 'a"b\\c',
      '2': '\u0001\n',
      z: '\ud800 é 😀 \u2028',
      n: [-0, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY],
      u: undefined,
      e: {},
      l: [],
    };
    expect(canonicalJson(value)).toBe('{"10":"a\\"b\\\\c","2":"\\u0001\\n","e":{},"l":[],"n":[0,1e+21,1e-7,null,null],"z":"\\ud800 é 😀 \u2028"}');
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
  });

  it('writes canonical text it is given as it is, so a part already made is not made again', () => {
    const payload = { b: [1, 'x'], a: { d: null, c: true } };
    const whole = { z: 1, payload, a: 'first' };
    expect(canonicalJson({ ...whole, payload: new CanonicalText(canonicalJson(payload)) })).toBe(canonicalJson(whole));
    expect(canonicalJson([new CanonicalText('{"as":"is"}')])).toBe('[{"as":"is"}]');
  });

  it('agrees with the definition on thousands of generated values', () => {
    const next = generator(7);
    for (let i = 0; i < 3_000; i++) {
      const value = next();
      expect(canonicalJson(value)).toBe(reference(value));
    }
  });
});
