import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROVIDER_TYPES, providerTable } from './catalog.js';
import { providerConfig } from './registry.js';

describe('provider catalog', () => {
  it("is the README's provider table", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const between = /<!-- provider-table:[^>]*-->\n([\s\S]*?)\n<!-- \/provider-table -->/.exec(readme);
    expect(between?.[1]).toBe(providerTable());
  });

  it('lists exactly the provider types config accepts', () => {
    const accepted = providerConfig.options.map((option) => option.shape.type.value).sort();
    expect(accepted).toEqual(Object.keys(PROVIDER_TYPES).sort());
  });
});
