import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigReference } from './config-reference.js';

describe('configuration reference', () => {
  it('docs/configuration.md matches the schema (regenerate with npm run docs:config)', () => {
    const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderConfigReference());
  });

  it('documents every section and provider type', () => {
    const text = renderConfigReference();
    for (const key of [
      '`nats.url`',
      '`database.url`',
      '`ingress.bodyLimitBytes`',
      '`governance.adminToken`',
      '`audit.maxBatch`',
      '`openai`, `mistral`',
      '`type`: `mock`',
      '`type`: `bedrock`',
      'deployments[].provider',
    ]) {
      expect(text).toContain(key);
    }
  });
});
