import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROVIDER_TYPES, providerTable } from './catalog.js';
import { compatibleTable } from './compatible.js';
import { providerConfig } from './registry.js';

describe('provider catalog', () => {
  it("is the README's provider table, and its table of the OpenAI-compatible providers' differences", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const between = (name: string) => new RegExp(`<!-- ${name}:[^>]*-->\\n([\\s\\S]*?)\\n<!-- /${name} -->`).exec(readme)?.[1];
    expect(between('provider-table')).toBe(providerTable());
    expect(between('compatible-table')).toBe(compatibleTable());
  });

  it('lists exactly the provider types config accepts', () => {
    const accepted = providerConfig.options.map((option) => option.shape.type.value).sort();
    expect(accepted).toEqual(Object.keys(PROVIDER_TYPES).sort());
  });
});
