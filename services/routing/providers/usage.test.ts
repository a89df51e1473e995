import { describe, expect, it } from 'vitest';
import type { OpenAIUsage } from '../canonical.js';
import { usageFromOpenAI } from './types.js';

describe('usage from a provider', () => {
  it('maps OpenAI usage, cached and reasoning tokens included', () => {
    expect(
      usageFromOpenAI({
        prompt_tokens: 12,
        completion_tokens: 30,
        total_tokens: 42,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 8 },
      }),
    ).toEqual({ promptTokens: 12, completionTokens: 30, totalTokens: 42, cachedTokens: 4, reasoningTokens: 8, cacheWriteTokens: 0, cacheWrite1hTokens: 0 });
  });

  it('holds counts the contract and the ledger can carry, whatever the provider sent', () => {
    const odd = { prompt_tokens: 2.6, completion_tokens: -5, total_tokens: 1e30, prompt_tokens_details: { cached_tokens: '3' } } as unknown as OpenAIUsage;
    expect(usageFromOpenAI(odd)).toEqual({
      promptTokens: 3,
      completionTokens: 0,
      totalTokens: Number.MAX_SAFE_INTEGER,
      cachedTokens: 0,
      reasoningTokens: 0,
      cacheWriteTokens: 0,
      cacheWrite1hTokens: 0,
    });
    expect(usageFromOpenAI({ prompt_tokens: 5, completion_tokens: 7 } as OpenAIUsage).totalTokens).toBe(12);
  });
});
