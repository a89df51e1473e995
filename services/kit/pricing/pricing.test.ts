import { describe, expect, it } from 'vitest';
import { Pricing } from './index.js';

describe('pricing', () => {
  const pricing = new Pricing({ 'acme/gpt-4o': { input: 1, output: 2 }, 'house-model': { input: 5, output: 6 } });

  it('finds a model by provider and name in the overrides, by name, then in the catalog by its longest prefix', () => {
    expect(pricing.priceOf('acme', 'gpt-4o')).toEqual({ input: 1, output: 2 });
    expect(pricing.priceOf('other', 'house-model')).toEqual({ input: 5, output: 6 });
    expect(pricing.priceOf('openai', 'gpt-4o')?.input).toBe(2.5);
    expect(pricing.priceOf('openai', 'gpt-4o-mini-2024-07-18')?.input).toBe(0.15);
    expect(pricing.priceOf('bedrock', 'us.claude-sonnet-4-5-20250929')?.output).toBe(15);
    expect(pricing.priceOf('openai', 'no-such-model')).toBeUndefined();
  });

  it('answers the same on every lookup, also after more distinct models than it remembers', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2_500; i++) expect(pricing.priceOf('openai', `unknown-${i}`)).toBeUndefined();
      expect(pricing.priceOf('openai', 'gpt-4o-mini')?.output).toBe(0.6);
      expect(pricing.priceOf('acme', 'gpt-4o')?.output).toBe(2);
      expect(pricing.priceOf('acme/gpt-4o', '')).toBeUndefined();
    }
  });

  it('prices a call from its usage, and its worst case from every prompt token uncached and every output token', () => {
    const usage = { promptTokens: 1_000_000, completionTokens: 1_000_000, totalTokens: 2_000_000, cachedTokens: 500_000, reasoningTokens: 0, cacheWriteTokens: 0 };
    expect(pricing.cost({ provider: 'openai', model: 'gpt-4o', deployment: 'd' }, usage)).toBe(1.25 + 0.625 + 10);
    expect(pricing.worstCase('openai', 'gpt-4o', 1_000_000, 1_000_000)).toBe(12.5);
    expect(pricing.cost({ provider: 'openai', model: 'no-such-model', deployment: 'd' }, usage)).toBeUndefined();
  });
});
