/** Dollars as finance reads them: at least cents, and up to the micro-dollars budgets count. The tests show figures the same way. */
export const usd = (value: number | string) =>
  Number(value).toLocaleString('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 6 });
