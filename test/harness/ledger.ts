import { usdText } from '../../services/kit/pricing/money.js';
import { THINKING_TOKENS } from '../fakes/anthropic.js';

/**
 * A request with every part of a cost, for the e2e tests of the usage ledger:
 * the fake Anthropic API's "cached" model reads 100 prompt tokens from the
 * cache and writes 20, and its "thinking" model thinks.
 */
export const EVERY_PART_MODEL = 'anthropic/cached-thinking';
/** Sonnet's prices, the reasoning price apart so that its part shows. */
export const EVERY_PART_PRICE = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6, reasoning: 20 };

export interface LedgerRow {
  endpoint: string;
  stream: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  reasoning_tokens: number;
  cost_usd: string;
  input_cost_usd: string;
  cache_read_cost_usd: string;
  cache_write_cost_usd: string;
  output_cost_usd: string;
  reasoning_cost_usd: string;
}

/** What a row with these tokens must say it cost, part by part, at EVERY_PART_PRICE in pico-dollars per token. */
export function pricedRow(tokens: { prompt: number; completion: number; hour: boolean }) {
  const written = tokens.hour ? 20n * 6_000_000n : 20n * 3_750_000n;
  const parts = {
    input_cost_usd: BigInt(tokens.prompt - 120) * 3_000_000n,
    cache_read_cost_usd: 100n * 300_000n,
    cache_write_cost_usd: written,
    output_cost_usd: BigInt(tokens.completion - THINKING_TOKENS) * 15_000_000n,
    reasoning_cost_usd: BigInt(THINKING_TOKENS) * 20_000_000n,
  };
  const total = Object.values(parts).reduce((sum, part) => sum + part, 0n);
  return {
    prompt_tokens: tokens.prompt,
    completion_tokens: tokens.completion,
    cached_tokens: 100,
    cache_write_tokens: 20,
    cache_write_1h_tokens: tokens.hour ? 20 : 0,
    reasoning_tokens: THINKING_TOKENS,
    cost_usd: usdText(total),
    ...Object.fromEntries(Object.entries(parts).map(([part, money]) => [part, usdText(money)])),
  };
}
