import type { BilledUnits, Served, Usage } from '../../gen/gateway/v1/common.js';
import { BATCH_SHARE, PRICE_CATALOG, type ModelPrice } from './catalog.js';
import { picoPerToken, type Money } from './money.js';
import { IMAGE_TOOL_MODEL, unitsCost } from './units.js';

export type { ModelPrice };
export { imageVariant } from './units.js';
export type { Money };

/** Model names come from clients and providers: the memo of prices found is bounded, and starts over when full. */
const MEMO_LIMIT = 1_000;

/** A model's prices in pico-dollars per token, every fallback resolved. */
interface Rates {
  input: bigint;
  cachedInput: bigint;
  cacheWrite: bigint;
  cacheWrite1h: bigint;
  output: bigint;
  reasoning: bigint;
}

/** What a call cost, part by part, exactly; `total` is their sum. */
export interface PricedUsage {
  /** Prompt tokens neither read from nor written to the prompt cache. */
  input: Money;
  cacheRead: Money;
  /** Prompt tokens written to the prompt cache, at the 5-minute and one-hour prices. */
  cacheWrite: Money;
  /** Completion tokens that are not reasoning. */
  output: Money;
  reasoning: Money;
  /** What an API billed by unit (images, audio, rerank) billed. */
  units: Money;
  total: Money;
}

interface Found {
  price: ModelPrice;
  rates: Rates;
  /** The rates of a call made through the provider's batch API. */
  batchRates: Rates;
}

/** A batch share is applied in millionths, so a share like 0.5 scales an exact rate exactly. */
const SHARE_SCALE = 1_000_000n;

function shareOf(rates: Rates, share: number): Rates {
  const scale = BigInt(Math.round(share * 1_000_000));
  return Object.fromEntries(Object.entries(rates).map(([part, rate]) => [part, (rate * scale) / SHARE_SCALE])) as unknown as Rates;
}

function exact(usdPerMillion: number, name: string): bigint {
  const rate = picoPerToken(usdPerMillion);
  if (rate === undefined) throw new RangeError(`The ${name} price ${usdPerMillion} is not a price per million tokens with at most six decimals.`);
  return rate;
}

function ratesOf(price: ModelPrice): Rates {
  const input = exact(price.input, 'input');
  const output = exact(price.output, 'output');
  const cacheWrite = price.cacheWrite === undefined ? input : exact(price.cacheWrite, 'cacheWrite');
  return {
    input,
    cachedInput: price.cachedInput === undefined ? input : exact(price.cachedInput, 'cachedInput'),
    cacheWrite,
    cacheWrite1h: price.cacheWrite1h === undefined ? cacheWrite : exact(price.cacheWrite1h, 'cacheWrite1h'),
    output,
    reasoning: price.reasoning === undefined ? output : exact(price.reasoning, 'reasoning'),
  };
}

/** A token count as a bigint: counts are whole, and a fraction or a negative never lowers a price. */
function count(tokens: number): bigint {
  return Number.isFinite(tokens) && tokens > 0 ? BigInt(Math.ceil(tokens)) : 0n;
}

const larger = (a: bigint, b: bigint) => (a > b ? a : b);
const smaller = (a: bigint, b: bigint) => (a < b ? a : b);

/**
 * Prices of models: the shipped catalog, overridden by config. Governance
 * prices a request's worst case with it, metering its real cost, so both
 * agree on what a request costs.
 */
export class Pricing {
  /** Found prices by provider and model (null: none): a request looks its model up three times (admit, settle, meter). */
  private readonly found = new Map<string, Found | null>();

  constructor(private readonly overrides: Readonly<Record<string, ModelPrice>> = {}) {}

  /**
   * The price of a model, looked up as "<provider>/<model>" in the overrides,
   * then the model name in the overrides and the catalog; a dated snapshot
   * ("gpt-4o-2024-08-06", "claude-sonnet-4-5-20250929") takes the price of the
   * longest catalog name it starts with.
   */
  priceOf(provider: string, model: string): ModelPrice | undefined {
    return this.lookUp(provider, model)?.price;
  }

  private lookUp(provider: string, model: string): Found | undefined {
    const key = `${provider}\n${model}`;
    let found = this.found.get(key);
    if (found === undefined) {
      if (this.found.size >= MEMO_LIMIT) this.found.clear();
      const price = this.search(provider, model);
      const rates = price ? ratesOf(price) : undefined;
      found = price && rates ? { price, rates, batchRates: shareOf(rates, price.batch ?? BATCH_SHARE) } : null;
      this.found.set(key, found);
    }
    return found ?? undefined;
  }

  private search(provider: string, model: string): ModelPrice | undefined {
    const exactName = this.overrides[`${provider}/${model}`] ?? this.overrides[model];
    if (exactName) return exactName;
    const name = model.toLowerCase().replace(/^(?:us|eu|apac|global)\./, '');
    let best: string | undefined;
    for (const known of [...Object.keys(this.overrides), ...Object.keys(PRICE_CATALOG)]) {
      if (
        (name === known || name.startsWith(`${known}-`) || name.startsWith(`${known}:`) || name.startsWith(`${known}@`)) &&
        known.length > (best?.length ?? 0)
      )
        best = known;
    }
    return best ? (this.overrides[best] ?? PRICE_CATALOG[best]) : undefined;
  }

  /**
   * What a call cost, part by part, or undefined when the model has no price.
   * Usage is read in the contract's sense (common.proto): cached and written
   * tokens are parts of the prompt, reasoning a part of the completion; a part
   * reported larger than its whole is cut to it. Usage billed through a provider's batch API (usage.batch) is
   * priced at the model's batch share of its token prices.
   */
  price(served: Served | undefined, usage: Usage | undefined): PricedUsage | undefined {
    if (!served || !usage) return undefined;
    const found = this.lookUp(served.provider, served.model);
    if (!found) return undefined;
    const rates = usage.batch ? found.batchRates : found.rates;
    const units = usage.billed ? this.unitsCost(served.provider, served.model, usage.billed) : 0n;
    if (units === undefined) return undefined;
    const prompt = count(usage.promptTokens);
    const cached = smaller(count(usage.cachedTokens), prompt);
    const written = smaller(count(usage.cacheWriteTokens), prompt - cached);
    const writtenForAnHour = smaller(count(usage.cacheWrite1hTokens), written);
    const completion = count(usage.completionTokens);
    const reasoning = smaller(count(usage.reasoningTokens), completion);
    const parts = {
      input: (prompt - cached - written) * rates.input,
      cacheRead: cached * rates.cachedInput,
      cacheWrite: (written - writtenForAnHour) * rates.cacheWrite + writtenForAnHour * rates.cacheWrite1h,
      output: (completion - reasoning) * rates.output,
      reasoning: reasoning * rates.reasoning,
      units,
    };
    return { ...parts, total: parts.input + parts.cacheRead + parts.cacheWrite + parts.output + parts.reasoning + units };
  }

  /** What units billed by an API other than tokens cost at a model's price; undefined when it has none for them. */
  unitsCost(provider: string, model: string, billed: BilledUnits): Money | undefined {
    // The Responses API's image_generation tool bills its images at its image model's prices, not the model's that called it.
    const found = this.lookUp(provider, billed.unit === 'image_generation_call' ? IMAGE_TOOL_MODEL : model);
    return found ? unitsCost(found.price, billed) : undefined;
  }

  /**
   * The most a prompt token and an output token of a model can cost: the
   * dearest prompt price (a cache write costs more than input) and the dearer
   * of output and reasoning. No usage prices a token higher, so a prompt and
   * output cap priced at these bound what a call can cost; `batch`: at the batch price.
   */
  worstRates(provider: string, model: string, batch = false): { prompt: Money; output: Money } | undefined {
    const found = this.lookUp(provider, model);
    const rates = batch ? found?.batchRates : found?.rates;
    if (!rates) return undefined;
    return { prompt: [rates.input, rates.cachedInput, rates.cacheWrite, rates.cacheWrite1h].reduce(larger), output: larger(rates.output, rates.reasoning) };
  }
}
