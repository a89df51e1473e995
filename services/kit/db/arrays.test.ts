import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../../test/harness/databases.js';
import { arrayLiteral } from './arrays.js';
import type { Database } from './types.js';

const TEXTS = [
  'plain',
  '',
  'NULL',
  ' spaced ',
  'a,b',
  '{braces}',
  'say "hi"',
  'back\\slash',
  '\\"both\\"',
  '{"json": ["x", "y\\n"]}',
  'tab\tnew\nline',
  'ünïcödé 😀 漢字',
];

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('array literals, on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  it('come back from PostgreSQL as the values given, in order, for text, numbers, booleans and NULL', async () => {
    handle = await DATABASE_KINDS[kind]();
    const { db } = handle;
    const texts = await db.query<{ v: string | null }>('SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n', [
      arrayLiteral([...TEXTS, null]),
    ]);
    expect(texts.rows.map((r) => r.v)).toEqual([...TEXTS, null]);
    const numbers = await db.query<{ i: string; f: number; b: boolean; j: unknown }>(
      'SELECT i::text, f, b, j FROM unnest($1::bigint[], $2::float8[], $3::boolean[], $4::jsonb[]) AS t(i, f, b, j)',
      [arrayLiteral([0, 9007199254740991]), arrayLiteral([1.5, -0.001]), arrayLiteral([true, false]), arrayLiteral(['{"a": "q\\"uote"}', '[1, "\\\\"]'])],
    );
    expect(numbers.rows).toEqual([
      { i: '0', f: 1.5, b: true, j: { a: 'q"uote' } },
      { i: '9007199254740991', f: -0.001, b: false, j: [1, '\\'] },
    ]);
  });
});

describe('array literals', () => {
  it('quote every text and escape only quotes and backslashes', () => {
    expect(arrayLiteral(['a', 'b"c', 'd\\e', null, 2, false])).toBe('{"a","b\\"c","d\\\\e",NULL,2,false}');
    expect(arrayLiteral([])).toBe('{}');
  });
});
