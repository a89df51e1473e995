/**
 * Money as a whole number of pico-dollars (10⁻¹² USD), in a bigint. A price of
 * USD per million tokens with up to six decimals ($0.000001/M) is a whole
 * number of pico-dollars per token, so every cost is a product and sum of
 * whole numbers: exact, never a float sum.
 */
export type Money = bigint;

/** Decimals of a dollar that Money holds, and that the usage ledger stores. */
export const MONEY_DECIMALS = 12;
/** Decimals a price per million tokens may have for it to be a whole number of pico-dollars per token. */
export const PRICE_DECIMALS = 6;

const PER_DOLLAR = 10n ** BigInt(MONEY_DECIMALS);
/** How JavaScript writes a non-negative number: digits, maybe a fraction, maybe an exponent ("1e-7", "1.5e+21"). */
const DECIMAL = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/;

/**
 * A non-negative decimal number as a whole number of 10^-decimals units, read
 * from the shortest decimal that names it (what an operator wrote); undefined
 * when that needs more decimals, or is negative.
 */
export function scaled(value: number, decimals: number): bigint | undefined {
  const parts = Number.isFinite(value) ? DECIMAL.exec(String(value)) : null;
  if (!parts) return undefined;
  const fraction = parts[2] ?? '';
  const shift = decimals - fraction.length + Number(parts[3] ?? 0);
  if (shift < 0) return undefined;
  return BigInt(parts[1]! + fraction) * 10n ** BigInt(shift);
}

/** Pico-dollars per token of a price in USD per million tokens (undefined past PRICE_DECIMALS decimals). */
export function picoPerToken(usdPerMillion: number): bigint | undefined {
  return scaled(usdPerMillion, PRICE_DECIMALS);
}

/** Whether a price in USD per million tokens is exact in pico-dollars per token (for config validation). */
export function isExactPrice(usdPerMillion: number): boolean {
  return picoPerToken(usdPerMillion) !== undefined;
}

/** The exact decimal, with all MONEY_DECIMALS decimals: what the ledger's NUMERIC columns receive. */
export function usdText(money: Money): string {
  const sign = money < 0n ? '-' : '';
  const abs = money < 0n ? -money : money;
  return `${sign}${abs / PER_DOLLAR}.${(abs % PER_DOLLAR).toString().padStart(MONEY_DECIMALS, '0')}`;
}

/** The nearest double to an amount, for arithmetic that takes numbers (budgets): one rounding, at the end. */
export function usdNumber(money: Money): number {
  return Number(usdText(money));
}

/** Decimals of a dollar budgets count in: whole micro-dollars, exact in a double up to $9 billion. */
export const BUDGET_DECIMALS = 6;
const PICO_PER_MICRO = 10n ** BigInt(MONEY_DECIMALS - BUDGET_DECIMALS);

/** An amount charged to budgets, in whole micro-dollars: a cost rounds up, so a budget never counts less than was spent. */
export function microsUp(money: Money): number {
  return Number(money <= 0n ? -(-money / PICO_PER_MICRO) : (money + PICO_PER_MICRO - 1n) / PICO_PER_MICRO);
}

/** Micro-dollars as Money. */
export function fromMicros(micros: number): Money {
  return BigInt(micros) * PICO_PER_MICRO;
}
