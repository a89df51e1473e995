import { describe, expect, it } from 'vitest';
import { schemaType } from './schema-types.js';

describe('schemaType', () => {
  it.each([
    [{ type: 'string' }, 'string'],
    [{ type: 'integer' }, 'number'],
    [{ type: ['string', 'null'] }, 'string | null'],
    [{ enum: ['a', 'b', 3] }, '"a" | "b" | 3'],
    [{ const: true }, 'true'],
    [{ anyOf: [{ type: 'number' }, { type: 'array', items: { type: 'string' } }] }, 'number | string[]'],
    [{ type: 'array', items: { type: ['string', 'number'] } }, '(string | number)[]'],
    [{ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] }, '[string, number]'],
    [{ type: 'array' }, 'unknown[]'],
    [{ type: 'object' }, 'Record<string, unknown>'],
    [{ type: 'object', additionalProperties: { type: 'number' } }, 'Record<string, number>'],
    [{ type: 'object', additionalProperties: false }, 'Record<string, never>'],
    [{ properties: { 'odd-name': { type: 'string' } }, required: ['odd-name'] }, '{ "odd-name": string; }'],
    [{ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'number' } }, '{ a?: string; [key: string]: unknown; }'],
    [{ allOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { $ref: '#/$defs/b' }] }, '{ a?: string; }'],
    [{ $ref: '#/$defs/thing' }, 'unknown'],
    [{ anyOf: [{ type: 'string' }, { not: {} }] }, 'unknown'],
    [true, 'unknown'],
    [false, 'never'],
  ])('%j is %s', (schema, type) => expect(schemaType(schema)).toBe(type));

  it('writes documented properties one per line, with their descriptions as JSDoc, nested objects indented', () => {
    const schema = {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'What to look for.\nPlain words; no operators. */ closes nothing.' },
        filter: { type: 'object', properties: { owner: { type: 'string', description: 'Login of the owner.' } } },
      },
      required: ['query'],
    };
    expect(schemaType(schema)).toBe(
      [
        '{',
        '  /**',
        '   * What to look for.',
        '   * Plain words; no operators. *\\/ closes nothing.',
        '   */',
        '  query: string;',
        '  filter?: {',
        '    /** Login of the owner. */',
        '    owner?: string;',
        '  };',
        '}',
      ].join('\n'),
    );
  });

  it('shows a schema nested deeper than it writes as unknown', () => {
    let schema: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 20; i++) schema = { type: 'array', items: schema };
    expect(schemaType(schema)).toBe(`${'unknown'}${'[]'.repeat(9)}`);
  });
});
