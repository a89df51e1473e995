import { GatewayError } from '../errors.js';

/**
 * What PostgreSQL's text and jsonb cannot hold: U+0000, and UTF-16 surrogates
 * not in a pair (jsonb refuses their \u escapes). Both can reach an event from
 * outside (a client's model name, a provider's error message), and a row that
 * cannot be written would stop its consumer's batches for good.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** How JSON.stringify writes those characters: as \u0000 and \udxxx escapes (other text may match too; walking it then changes nothing). */
const UNSTORABLE_ESCAPE = /\\u(?:0000|d[89a-f])/;

/** The text with each character PostgreSQL cannot hold replaced by U+FFFD (the replacement character). */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, '\uFFFD') : text;
}

/** A JSON value with storableText applied to every string in it, keys too. */
function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [storableText(key), storableJson(item)]));
  }
  return value;
}

/**
 * A JSON value as PostgreSQL will store it, and its JSON text (by `stringify`,
 * which must escape as JSON.stringify does); walked only when its text shows
 * it may need it.
 */
export function storableJsonText(value: unknown, stringify: (value: unknown) => string = JSON.stringify): { value: unknown; json: string } {
  const json = stringify(value);
  if (!UNSTORABLE_ESCAPE.test(json)) return { value, json };
  const storable = storableJson(value);
  return { value: storable, json: stringify(storable) };
}

/**
 * Whether PostgreSQL refused the values themselves (SQLSTATE class 22, data
 * exception: out of range, text it cannot hold, invalid input syntax), so the
 * same values can never be written; lost connections and the like are not.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('22');
}

/** A value a request carried that PostgreSQL refused (a date it cannot read, text it cannot hold), as the client's error. */
export function refusedValueError(err: unknown): GatewayError | undefined {
  if (!isDataError(err)) return undefined;
  return new GatewayError(
    'invalid_request',
    `A value in the request cannot be stored (${(err as Error).message}); text may not hold U+0000 or unpaired UTF-16 surrogates.`,
  );
}
