import type { IngressLimits } from '../config.js';

/*
 * Building blocks of the inbound APIs' body schemas (JSON Schema, checked by
 * fastify's validator before a handler runs). Known fields get their API's
 * types and ranges; unknown fields pass through, so a parameter a provider
 * added last week still reaches it. Lengths and counts bound what the gateway
 * itself keeps or walks per request.
 */

export type Schema = Record<string, unknown>;

/** Largest token count a request may name: what every provider's API types as a 32-bit integer. */
export const MAX_TOKENS = 2_147_483_647;

export const string: Schema = { type: 'string' };
export const object: Schema = { type: 'object' };
export const nullableObject: Schema = { type: ['object', 'null'] };
export const boolean: Schema = { type: ['boolean', 'null'] };
export const nullableString: Schema = { type: ['string', 'null'] };

/** A number in [min, max], or null. */
export const range = (min: number, max: number): Schema => ({ type: ['number', 'null'], minimum: min, maximum: max });

/** A whole number in [min, max], or null. */
export const count = (min: number, max = MAX_TOKENS): Schema => ({ type: ['integer', 'null'], minimum: min, maximum: max });

/** OpenAI's expiry of a file (`expires_after` on an upload, `output_expires_after` on a batch's output): an hour to 30 days. */
export const fileExpiry: Schema = {
  type: 'object',
  required: ['anchor', 'seconds'],
  additionalProperties: false,
  properties: { anchor: { const: 'created_at' }, seconds: { type: 'integer', minimum: 3600, maximum: 2_592_000 } },
};

/** Applies `then` to an object whose `field` is `value`. */
export const when = (field: string, value: string, then: Schema): Schema => ({
  if: { required: [field], properties: { [field]: { const: value } } },
  then,
});

/** An object with a `type`, and what each type named in `cases` needs besides. */
export function typed(cases: Record<string, Schema> = {}): Schema {
  const needs = Object.entries(cases).map(([value, then]) => when('type', value, then));
  return { type: 'object', required: ['type'], properties: { type: string }, ...(needs.length ? { allOf: needs } : {}) };
}

/** A text part or block: its text is required. */
export const text: Schema = { required: ['text'], properties: { text: string } };

/** Stop sequences: one string or a list of them. */
export const stop: Schema = {
  anyOf: [string, { type: 'array', items: string }, { type: 'null' }],
  description: 'a string, an array of strings, or null',
};

/** The fragments that depend on the configured limits. */
export interface Fragments {
  limits: IngressLimits;
  model: Schema;
  /** A name or identifier that may be absent or empty (user, tool call id). */
  name: Schema;
  /** A name that must be there (a tool's, a function's). */
  requiredName: Schema;
}

export function fragments(limits: IngressLimits): Fragments {
  return {
    limits,
    model: { type: 'string', minLength: 1, maxLength: limits.maxModelNameLength, format: 'model-name' },
    name: { type: ['string', 'null'], maxLength: limits.maxNameLength },
    requiredName: { type: 'string', minLength: 1, maxLength: limits.maxNameLength },
  };
}

/** A function's name (required), description, parameters and strictness. */
export function functionFields(f: Fragments): Schema {
  return { required: ['name'], properties: { name: f.requiredName, description: nullableString, parameters: object, strict: boolean } };
}

/** Chat's list of tools, each with a type; a function tool holds its function, which needs a name. */
export function tools(f: Fragments): Schema {
  const functionTool = { required: ['function'], properties: { function: { type: 'object', ...functionFields(f) } } };
  return { type: ['array', 'null'], maxItems: f.limits.maxTools, items: typed({ function: functionTool }) };
}

/** `tool_choice`: a mode by name, or an object naming one. */
export const toolChoice: Schema = {
  anyOf: [string, object, { type: 'null' }],
  description: 'a string ("none", "auto", "required") or an object',
};
