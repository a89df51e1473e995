import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Usage } from '../../gen/gateway/v1/common.js';
import { PRICE_CATALOG } from './catalog.js';
import { Pricing, type ModelPrice } from './index.js';
import { picoPerToken, usdNumber, usdText } from './money.js';
import { imageVariant, perUnit } from './units.js';

const served = (model: string, provider = 'openai') => ({ provider, model, deployment: '' });
const usage = (parts: Partial<Usage>): Usage => {
  const full = Usage.fromPartial(parts);
  return { ...full, totalTokens: full.promptTokens + full.completionTokens };
};
const SONNET: ModelPrice = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 };

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

  it('holds every catalog price exactly, in whole pico-dollars per token', () => {
    for (const [model, price] of Object.entries(PRICE_CATALOG)) {
      const { images, webSearchCalls, searchUnit, inputCharacter, audioSecond, ...tokens } = price;
      for (const [unit, usd] of Object.entries({ searchUnit, inputCharacter, audioSecond })) {
        if (usd !== undefined) expect(perUnit(usd), `${model} ${unit}`).toBeDefined();
      }
      for (const [part, usd] of Object.entries(tokens)) expect(picoPerToken(usd), `${model} ${part}`).toBeDefined();
      for (const [variant, usd] of Object.entries({ ...images, ...webSearchCalls })) expect(perUnit(usd), `${model} ${variant}`).toBeDefined();
    }
    expect(picoPerToken(0.0375)).toBe(37_500n);
    expect(picoPerToken(1.5e21)).toBe(1_500_000_000_000_000_000_000_000_000n);
    expect(picoPerToken(0.000001)).toBe(1n);
    expect(picoPerToken(1e-7)).toBeUndefined();
    expect(picoPerToken(-1)).toBeUndefined();
  });

  it('prices images by quality and size, an unknown variant at the dearest, and a model without image prices not at all', () => {
    const billed = (quantity: number, quality: string, size: string) => ({ unit: 'image', quantity, variant: imageVariant(quality, size) });
    const images = (model: string, quantity: number, quality: string, size: string) =>
      pricing.price(served(model), usage({ billed: billed(quantity, quality, size) }));
    expect(usdText(images('dall-e-3', 2, 'hd', '1792x1024')!.total)).toBe('0.240000000000');
    expect(images('dall-e-3', 2, 'hd', '1792x1024')).toMatchObject({ units: 240_000_000_000n, input: 0n, output: 0n });
    expect(usdText(images('dall-e-3', 1, 'standard', '1024x1024')!.total)).toBe('0.040000000000');
    expect(usdText(images('dall-e-2', 3, 'standard', '256x256')!.total)).toBe('0.048000000000');
    expect(usdText(images('gpt-image-1', 1, 'auto', 'auto')!.total)).toBe('0.250000000000');
    expect(images('gpt-4o', 1, 'standard', '1024x1024')).toBeUndefined();
    expect(pricing.unitsCost('openai', 'dall-e-3-preview', billed(1, 'hd', '1024x1024'))).toBe(80_000_000_000n);
  });

  it('prices reranking per search unit, a fraction of one as a whole one', () => {
    const searches = (quantity: number) => pricing.price(served('rerank-v3.5', 'cohere'), usage({ billed: { unit: 'search_unit', quantity, variant: '' } }));
    expect(usdText(searches(3)!.total)).toBe('0.006000000000');
    expect(searches(0.5)!.units).toBe(2_000_000_000n);
    expect(pricing.price(served('dall-e-3'), usage({ billed: { unit: 'search_unit', quantity: 1, variant: '' } }))).toBeUndefined();
  });

  it("prices web search calls per call on top of tokens, by the tool's kind, an unknown kind at the dearest, overridable", () => {
    const searched = (model: string, quantity: number, variant: string, prices = pricing) =>
      prices.price(served(model), usage({ promptTokens: 1_000_000, billed: { unit: 'web_search_call', quantity, variant } }));
    // gpt-4o: $2.50 for a million input tokens, and $10 or, for web_search_preview on a model that does not reason, $25 per 1,000 calls.
    expect(usdText(searched('gpt-4o', 2, 'web_search')!.total)).toBe('2.520000000000');
    expect(searched('gpt-4o', 2, 'web_search')!.units).toBe(20_000_000_000n);
    expect(usdText(searched('gpt-4o-2024-08-06', 1, 'web_search_preview')!.units)).toBe('0.025000000000');
    expect(usdText(searched('gpt-5', 1, 'web_search_preview')!.units)).toBe('0.010000000000');
    expect(usdText(searched('gpt-4o', 1, '')!.units)).toBe('0.025000000000');
    // A model without a search price has no price for the call, rather than a price without its searches.
    expect(searched('claude-sonnet-4-5', 1, 'web_search')).toBeUndefined();
    const house = new Pricing({ 'gpt-4o': { input: 2.5, output: 10, webSearchCalls: { web_search: 0.005 } } });
    expect(usdText(searched('gpt-4o', 1, 'web_search', house)!.units)).toBe('0.005000000000');
  });

  it('prices one token at $0.0375/M and at $0.003625/M to the pico-dollar', () => {
    const cheap = new Pricing({ tiny: { input: 0.0375, output: 0.003625 } });
    const one = cheap.price(served('tiny'), usage({ promptTokens: 1, completionTokens: 1 }))!;
    expect(usdText(one.input)).toBe('0.000000037500');
    // $0.000000003625 has twelve decimals: rounded to the ten the ledger used to keep, it was $0.0000000036.
    expect(usdText(one.output)).toBe('0.000000003625');
    expect(usdText(one.total)).toBe('0.000000041125');
  });

  it('prices each part at its own price, exactly where summing floats is off', () => {
    const claude = new Pricing({ claude: SONNET });
    // 1 fresh, 14 read, 3 written for five minutes and 2 for an hour; 2 visible and 3 reasoning completion tokens.
    const mix = usage({ promptTokens: 20, cachedTokens: 14, cacheWriteTokens: 5, cacheWrite1hTokens: 2, completionTokens: 5, reasoningTokens: 3 });
    const priced = claude.price(served('claude', 'anthropic'), mix)!;
    expect(Object.fromEntries(Object.entries(priced).map(([part, money]) => [part, usdText(money)]))).toEqual({
      input: '0.000003000000',
      cacheRead: '0.000004200000',
      cacheWrite: '0.000023250000',
      output: '0.000030000000',
      reasoning: '0.000045000000',
      units: '0.000000000000',
      total: '0.000105450000',
    });
    // The same parts in dollars, summed as floats, are off in the 20th decimal.
    expect([1 * 3, 14 * 0.3, 3 * 3.75, 2 * 6, 2 * 15, 3 * 15].reduce((sum, perMillion) => sum + perMillion / 1e6, 0)).toBe(0.00010545000000000002);
    expect(usdNumber(priced.total)).toBe(0.00010545);
  });

  it('falls back to input for cache reads and writes, to cacheWrite for an hour, and to output for reasoning; or uses their own prices', () => {
    const plain = new Pricing({ plain: { input: 1, output: 2 }, thinker: { input: 1, output: 2, reasoning: 8, cacheWrite: 3 } });
    const mix = usage({ promptTokens: 10, cachedTokens: 4, cacheWriteTokens: 3, cacheWrite1hTokens: 1, completionTokens: 6, reasoningTokens: 5 });
    expect(plain.price(served('plain'), mix)?.total).toBe(10n * 1_000_000n + 6n * 2_000_000n);
    const thinker = plain.price(served('thinker'), mix)!;
    expect(thinker.cacheWrite).toBe(3n * 3_000_000n);
    expect(thinker.reasoning).toBe(5n * 8_000_000n);
  });

  it('cuts a part reported larger than its whole, so no token is priced twice', () => {
    const claude = new Pricing({ claude: SONNET });
    const inconsistent = usage({ promptTokens: 10, cachedTokens: 8, cacheWriteTokens: 8, cacheWrite1hTokens: 9, completionTokens: 2, reasoningTokens: 7 });
    expect(claude.price(served('claude'), inconsistent)).toEqual({
      input: 0n,
      cacheRead: 8n * 300_000n,
      cacheWrite: 2n * 6_000_000n,
      output: 0n,
      reasoning: 2n * 15_000_000n,
      units: 0n,
      total: 44_400_000n,
    });
  });

  it("prices usage through a provider's batch API at half the token prices, or at the share pricing.models sets", () => {
    const tokens = { promptTokens: 1_000_000, completionTokens: 1_000_000 };
    // gpt-4o-mini: $0.15 in, $0.60 out per million.
    expect(usdText(pricing.price(served('gpt-4o-mini'), usage(tokens))!.total)).toBe('0.750000000000');
    expect(usdText(pricing.price(served('gpt-4o-mini'), usage({ ...tokens, batch: true }))!.total)).toBe('0.375000000000');
    expect(pricing.worstRates('openai', 'gpt-4o-mini', true)).toEqual({ prompt: 75_000n, output: 300_000n });
    const overridden = new Pricing({ 'openai/gpt-4o-mini': { input: 0.15, output: 0.6, batch: 0.4 } });
    expect(usdText(overridden.price(served('gpt-4o-mini'), usage({ ...tokens, batch: true }))!.total)).toBe('0.300000000000');
  });

  it('has no price for a model it does not know, or without usage', () => {
    expect(pricing.price(served('no-such-model'), usage({ promptTokens: 1 }))).toBeUndefined();
    expect(pricing.price(served('gpt-4o'), undefined)).toBeUndefined();
    expect(pricing.worstRates('openai', 'no-such-model')).toBeUndefined();
  });

  it('reserves every prompt token at the dearest prompt price and every output token at the dearer of output and reasoning', () => {
    const claude = new Pricing({ claude: { ...SONNET, reasoning: 20 } });
    expect(claude.worstRates('x', 'claude')).toEqual({ prompt: 6_000_000n, output: 20_000_000n });
  });

  it('never reserves less than any usage within the prompt and the output cap can cost', () => {
    const price = fc.integer({ min: 0, max: 100_000_000 }).map((micro) => micro / 1_000_000);
    const prices = fc.record(
      { input: price, output: price, cachedInput: price, cacheWrite: price, cacheWrite1h: price, reasoning: price },
      { requiredKeys: ['input', 'output'] },
    );
    const count = fc.integer({ min: 0, max: 10_000_000 });
    // Parts drawn freely, even larger than their wholes; the prompt and the completion within the request's counts.
    const parts = fc.record({ cachedTokens: count, cacheWriteTokens: count, cacheWrite1hTokens: count, reasoningTokens: count });
    const share = fc.double({ min: 0, max: 1 });
    fc.assert(
      fc.property(prices, count, count, parts, share, share, (modelPrice, prompt, cap, drawn, promptShare, outputShare) => {
        const model = new Pricing({ m: modelPrice });
        const used = usage({ ...drawn, promptTokens: Math.floor(prompt * promptShare), completionTokens: Math.floor(cap * outputShare) });
        const rates = model.worstRates('p', 'm')!;
        const worst = BigInt(prompt) * rates.prompt + BigInt(cap) * rates.output;
        expect(model.price(served('m', 'p'), used)!.total).toBeLessThanOrEqual(worst);
      }),
    );
  });
});
