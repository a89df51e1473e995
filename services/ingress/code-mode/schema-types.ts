/**
 * TypeScript types from JSON Schemas, for the declarations code mode shows a
 * model: objects, arrays and tuples, enums and constants, unions, required and
 * optional properties, descriptions as JSDoc. What it cannot express (refs,
 * conditionals, patterns) becomes `unknown`: a looser type, never a wrong one.
 */

type Schema = Record<string, unknown>;

/** Deeper schemas are shown as `unknown`: declarations are for reading, and a cycle-free bound keeps them short. */
const MAX_DEPTH = 8;
/** Objects whose members fit on one line this long are written on one line. */
const INLINE_WIDTH = 72;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A property or method name as TypeScript accepts it: bare when it is an identifier, quoted otherwise. */
export const memberName = (name: string): string => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

/** A JSDoc comment of a description, at `indent`; empty without one. `*\/` in the text cannot end the comment early. */
export function jsDoc(description: unknown, indent: string): string {
  if (typeof description !== 'string' || description.trim() === '') return '';
  const lines = description.trim().replaceAll('*/', '*\\/').split(/\r?\n/);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((line) => `${indent} * ${line}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

/** The TypeScript type of a JSON Schema, written for a declaration at `indent`. */
export function schemaType(schema: unknown, indent = ''): string {
  return typeAt(schema, indent, 0);
}

function typeAt(schema: unknown, indent: string, depth: number): string {
  if (schema === false) return 'never';
  if (schema === true || !isSchema(schema) || depth > MAX_DEPTH) return 'unknown';
  if ('const' in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return union(schema.enum.map(literal));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) return union(alternatives.map((s) => typeAt(s, indent, depth + 1)));
  if (Array.isArray(schema.allOf)) {
    const parts = schema.allOf.map((s) => typeAt(s, indent, depth + 1)).filter((t) => t !== 'unknown');
    return parts.length === 0 ? 'unknown' : parts.map((t) => (t.includes('|') ? `(${t})` : t)).join(' & ');
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? implicitType(schema)];
  return union(types.map((type) => typeOfKind(type, schema, indent, depth)));
}

function typeOfKind(type: unknown, schema: Schema, indent: string, depth: number): string {
  switch (type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return arrayType(schema, indent, depth);
    case 'object':
      return objectType(schema, indent, depth);
    default:
      return 'unknown';
  }
}

/** A schema without `type` that still says what it holds. */
function implicitType(schema: Schema): string | undefined {
  if (isSchema(schema.properties) || 'additionalProperties' in schema) return 'object';
  if ('items' in schema || 'prefixItems' in schema) return 'array';
  return undefined;
}

function arrayType(schema: Schema, indent: string, depth: number): string {
  const tuple = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : undefined;
  if (tuple) return `[${tuple.map((s) => typeAt(s, indent, depth + 1)).join(', ')}]`;
  const item = 'items' in schema ? typeAt(schema.items, indent, depth + 1) : 'unknown';
  return /[|&\s]/.test(item) && !/^[{[]/.test(item) ? `(${item})[]` : `${item}[]`;
}

function objectType(schema: Schema, indent: string, depth: number): string {
  const properties = isSchema(schema.properties) ? Object.entries(schema.properties) : [];
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const inner = `${indent}  `;
  const members = properties.map(([name, property]) => ({
    doc: isSchema(property) ? jsDoc(property.description, inner) : '',
    text: `${memberName(name)}${required.has(name) ? '' : '?'}: ${typeAt(property, inner, depth + 1)};`,
  }));
  const extra = schema.additionalProperties;
  if (properties.length === 0) {
    if (extra === false) return 'Record<string, never>';
    return `Record<string, ${extra === undefined ? 'unknown' : typeAt(extra, indent, depth + 1)}>`;
  }
  // TypeScript wants every property to fit the index signature, so beside named properties it can only say unknown.
  if (isSchema(extra)) members.push({ doc: '', text: '[key: string]: unknown;' });
  const oneLine = `{ ${members.map((m) => m.text).join(' ')} }`;
  if (members.every((m) => m.doc === '') && !oneLine.includes('\n') && oneLine.length <= INLINE_WIDTH) return oneLine;
  return `{\n${members.map((m) => `${m.doc}${inner}${m.text}`).join('\n')}\n${indent}}`;
}

/** A JSON value as a literal type; objects and arrays have none worth writing. */
function literal(value: unknown): string {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return JSON.stringify(value);
  return 'unknown';
}

function union(types: string[]): string {
  const distinct = [...new Set(types)];
  if (distinct.length === 0) return 'never';
  return distinct.includes('unknown') ? 'unknown' : distinct.join(' | ');
}

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);
