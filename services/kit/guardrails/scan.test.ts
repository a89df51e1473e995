import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS, customDetectors } from './index.js';
import { Specificity, scan, type Detector } from './scan.js';

/** A detector that reports fixed spans, to test how overlaps are settled apart from any pattern. */
const fixed = (id: string, specificity: Specificity, ...spans: [number, number][]): Detector => ({
  id,
  specificity,
  find: (_text, found) => spans.forEach(([start, end]) => found(start, end)),
});
const spans = (detectors: Detector[]) => scan('x'.repeat(100), detectors).map((f) => `${f.detector}:${f.start}-${f.end}`);
const labelled = (text: string, detectors: readonly Detector[] = BUILTIN_DETECTORS) =>
  scan(text, detectors).map((f) => [f.detector, text.slice(f.start, f.end)]);

describe('scan: overlapping findings', () => {
  it('keeps the longest, then the most specific, then the earliest, then by detector id', () => {
    expect(spans([fixed('a', Specificity.entropy, [0, 10]), fixed('b', Specificity.custom, [5, 12])])).toEqual(['a:0-10']);
    expect(spans([fixed('a', Specificity.entropy, [0, 10]), fixed('b', Specificity.format, [2, 12])])).toEqual(['b:2-12']);
    expect(spans([fixed('a', Specificity.validated, [0, 10]), fixed('b', Specificity.validated, [2, 12])])).toEqual(['a:0-10']);
    expect(spans([fixed('b', Specificity.secret, [0, 10]), fixed('a', Specificity.secret, [0, 10])])).toEqual(['a:0-10']);
  });

  it('settles a chain of overlaps as one cluster, and keeps what touches without overlapping', () => {
    expect(spans([fixed('a', Specificity.format, [0, 4], [7, 10]), fixed('b', Specificity.format, [3, 8])])).toEqual(['b:3-8']);
    expect(spans([fixed('a', Specificity.format, [0, 6], [8, 14]), fixed('b', Specificity.secret, [5, 9])])).toEqual(['a:0-6', 'a:8-14']);
    expect(spans([fixed('a', Specificity.format, [10, 20], [0, 10]), fixed('b', Specificity.format, [20, 25])])).toEqual(['a:0-10', 'a:10-20', 'b:20-25']);
  });

  it('reports a JWT or a provider key once, by its format, not also as high entropy', () => {
    const jwt =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    expect(labelled(`Bearer ${jwt}`)).toEqual([['secret.jwt', jwt]]);
    const key = `sk-proj-${'Zx9Qw2Er7Ty4Ui1Op8As5Df3Gh6Jk0Lm'.repeat(2)}`;
    expect(labelled(`OPENAI_API_KEY=${key}`)).toEqual([['secret.openai_key', key]]);
  });

  it("gives an operator's pattern the span it shares with a built-in one, but not a part of a longer finding", () => {
    const custom = customDetectors([
      { name: 'employee_id', pattern: '\\b\\d{3}-\\d{2}-\\d{4}\\b' },
      { name: 'client', words: ['acme'] },
    ]);
    expect(labelled('Employee 123-45-6789 mailed bob@acme.com about ACME.', [...BUILTIN_DETECTORS, ...custom])).toEqual([
      ['custom.employee_id', '123-45-6789'],
      ['email', 'bob@acme.com'],
      ['custom.client', 'ACME'],
    ]);
  });
});

describe('scan: text', () => {
  it('gives UTF-16 offsets, right after emoji and accented letters', () => {
    const text = '😀 écrit à bob@example.com et 🎉🎉 4242 4242 4242 4242 — ok';
    const findings = scan(text, BUILTIN_DETECTORS);
    expect(findings).toEqual([
      { detector: 'email', start: text.indexOf('bob@'), end: text.indexOf(' et') },
      { detector: 'payment_card', start: text.indexOf('4242'), end: text.indexOf(' —') },
    ]);
  });

  it('finds nothing in everyday prose with years, prices, versions, dates and order numbers', () => {
    const prose =
      'In 2024 the team shipped version 2.14.3 on 2024-01-15 at 10:30:00; order #123-456-7890 cost $1,299.99 ' +
      '(about 1 234,50 EUR). See section 4.2.1, page 17, call stack std::vector<int>, commit 3f786850e387550fdab836ed7e6dc881de23001b, ' +
      'request 550e8400-e29b-41d4-a716-446655440000 and the class AbstractSingletonProxyFactoryBean in node_modules/typescript/lib/typescript.js.';
    expect(scan(prose, BUILTIN_DETECTORS)).toEqual([]);
  });

  it('completes over 1 MB of adversarial input for every detector (no catastrophic backtracking)', () => {
    const mb = (unit: string) => unit.repeat(Math.ceil(1_048_576 / unit.length));
    const words = customDetectors([{ name: 'words', words: ['secret project', 'acme'] }]);
    const inputs = [
      mb('1'),
      mb('1 '),
      mb('1-'),
      mb('+1 '),
      mb('0 '),
      mb('1.'),
      mb('1.1.1.1.'),
      mb('a'),
      mb('a@'),
      mb('a.'),
      mb('a@a.'),
      mb('a@a-'),
      mb(':'),
      mb('a:'),
      mb('1::'),
      mb('-----BEGIN PRIVATE KEY-----'),
      mb('-----BEGIN RSA PRIVATE KEY-----\nMIIE'),
      mb('ey'),
      mb('eyJhbGci.'),
      mb('AKIA'),
      mb('sk-'),
      mb('sk-ant-api03-'),
      mb('ghp_'),
      mb('xoxb-'),
      mb('AIza'),
      mb('GB82 '),
      mb('AB 12 '),
      mb('2A '),
      mb('aB3+'),
      mb('acme '),
    ];
    for (const input of inputs) expect(Array.isArray(scan(input, [...BUILTIN_DETECTORS, ...words]))).toBe(true);
    // Many findings at once: a line with one of nearly everything, over and over.
    const line = 'bob@example.com, +44 20 7946 0958, 4242 4242 4242 4242, GB82WEST12345698765432, 123-45-6789, 192.168.1.1, AKIAIOSFODNN7EXAMPLE, acme\n';
    expect(scan(mb(line), [...BUILTIN_DETECTORS, ...words]).length).toBe(8 * Math.ceil(1_048_576 / line.length));
  });
});
