/** What an element of a PostgreSQL array literal must have escaped inside its double quotes. */
const NEEDS_BACKSLASH = /["\\]/;
const NEEDS_BACKSLASH_ALL = /["\\]/g;

/**
 * A column of values as a PostgreSQL array literal ('{"a","b",NULL,3}'), for
 * the `$n::type[]` parameters of a batch insert (`unnest`). It is what pg
 * sends for a JavaScript array, made with one pass over a text that needs
 * escaping and none over one that does not, where pg allocates two replaces
 * and a concatenation per element.
 */
export function arrayLiteral(values: readonly (string | number | boolean | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i]!;
    if (value === null) out += 'NULL';
    else if (typeof value !== 'string') out += String(value);
    else out += NEEDS_BACKSLASH.test(value) ? `"${value.replace(NEEDS_BACKSLASH_ALL, '\\$&')}"` : `"${value}"`;
  }
  return `${out}}`;
}
