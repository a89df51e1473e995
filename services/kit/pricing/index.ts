import type { Served, Usage } from '../../gen/gateway/v1/common.js';
import { PRICE_CATALOG, type ModelPrice } from './catalog.js';

export type { ModelPrice };

const PER_TOKEN = 1 / 1_000_000;

/** Model names come from clients and providers: the memo of prices found is bounded, and starts over when full. */
const MEMO_LIMIT = 1_000;

/**
 * Prices of models: the shipped catalog, overridden by config. Governance
 * prices a request's worst case with it, metering its real cost, so both
 * agree on what a request costs.
 */
export class Pricing {
  /** Found prices by provider and model (null: none): a request looks its model up three times (admit, settle, meter). */
  private readonly found = new Map<string, ModelPrice | null>();

  constructor(private readonly overrides: Readonly<Record<string, ModelPrice>> = {}) {}

  /**
   * The price of a model, looked up as "<provider>/<model>" in the overrides,
   * then the model name in the overrides and the catalog; a dated snapshot
   * ("gpt-4o-2024-08-06", "claude-sonnet-4-5-20250929") takes the price of the
   * longest catalog name it starts with.
   */
  priceOf(provider: string, model: string): ModelPrice | undefined {
    const key = `${provider}\n${model}`;
    let price = this.found.get(key);
    if (price === undefined) {
      if (this.found.size >= MEMO_LIMIT) this.found.clear();
      price = this.search(provider, model) ?? null;
      this.found.set(key, price);
    }
    return price ?? undefined;
  }

  private search(provider: string, model: string): ModelPrice | undefined {
    const exact = this.overrides[`${provider}/${model}`] ?? this.overrides[model];
    if (exact) return exact;
    const name = model.toLowerCase().replace(/^(?:us|eu|apac|global)\./, '');
    let best: string | undefined;
    for (const known of [...Object.keys(this.overrides), ...Object.keys(PRICE_CATALOG)]) {
      if ((name === known || name.startsWith(`${known}-`) || name.startsWith(`${known}:`) || name.startsWith(`${known}@`)) && known.length > (best?.length ?? 0)) best = known;
    }
    return best ? (this.overrides[best] ?? PRICE_CATALOG[best]) : undefined;
  }

  /** What a call cost, or undefined when the model has no price. */
  cost(served: Served | undefined, usage: Usage | undefined): number | undefined {
    if (!served || !usage) return undefined;
    const price = this.priceOf(served.provider, served.model);
    if (!price) return undefined;
    const cached = Math.min(usage.cachedTokens, usage.promptTokens);
    const written = Math.min(usage.cacheWriteTokens, usage.promptTokens - cached);
    const fresh = usage.promptTokens - cached - written;
    const dollars =
      fresh * price.input +
      cached * (price.cachedInput ?? price.input) +
      written * (price.cacheWrite ?? price.input) +
      usage.completionTokens * price.output;
    return round(dollars * PER_TOKEN);
  }

  /** The most a request can cost: all prompt tokens uncached, and every output token allowed. */
  worstCase(provider: string, model: string, promptTokens: number, maxOutputTokens: number): number | undefined {
    const price = this.priceOf(provider, model);
    if (!price) return undefined;
    return round((promptTokens * Math.max(price.input, price.cacheWrite ?? 0) + maxOutputTokens * price.output) * PER_TOKEN);
  }
}

/** Ten decimal places: the ledger's precision (NUMERIC(20,10)). */
export function round(dollars: number): number {
  return Math.round(dollars * 1e10) / 1e10;
}
