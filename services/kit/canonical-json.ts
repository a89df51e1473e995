// Strings without quotes, backslashes, control characters or surrogates are
// their own JSON between quotes; the rest go through JSON.stringify.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function stringJson(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** JSON text already canonical, written as it is where it stands in a value given to canonicalJson. */
export class CanonicalText {
  constructor(readonly json: string) {}
}

/**
 * An object's keys in the order Array.prototype.sort gives (UTF-16 code
 * units). Small objects, nearly all here, are sorted in place by insertion,
 * since sort() copies the array it sorts.
 */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

/**
 * JSON with object keys sorted at every level and no spaces, so equal values
 * always give equal text: the input of cache keys and audit-chain hashes.
 * Leaves are written here rather than each through JSON.stringify, whose call
 * would be most of the cost.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return stringJson(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined and functions give undefined, left out of arrays below; bigint throws, as in JSON.stringify.
      return JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (value instanceof CanonicalText) return value.json;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]) ?? '';
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of sortedKeys(record)) {
    const item = record[key];
    if (item === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${stringJson(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}
