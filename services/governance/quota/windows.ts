import type { Budget, Period } from '../store/entities.js';

export interface Window {
  start: Date;
  end: Date;
}

const FIXED_MS: Partial<Record<Period, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

/** Adds whole periods to a date, in UTC (months keep their day where the month has it). */
export function addPeriods(date: Date, period: Period, count: number): Date {
  const fixed = FIXED_MS[period];
  if (fixed !== undefined) return new Date(date.getTime() + fixed * count);
  const months = period === 'month' ? count : period === 'quarter' ? 3 * count : 12 * count;
  const next = new Date(date);
  next.setUTCMonth(next.getUTCMonth() + months);
  return next;
}

/** The UTC calendar period containing `now`: minutes, hours, days from midnight, ISO weeks from Monday, months, quarters, years. */
function calendarStart(period: Period, now: Date): Date {
  const d = new Date(now);
  d.setUTCMilliseconds(0);
  d.setUTCSeconds(0);
  if (period === 'minute') return d;
  d.setUTCMinutes(0);
  if (period === 'hour') return d;
  d.setUTCHours(0);
  if (period === 'day') return d;
  if (period === 'week') {
    d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    return d;
  }
  d.setUTCDate(1);
  if (period === 'month') return d;
  if (period === 'quarter') {
    d.setUTCMonth(d.getUTCMonth() - (d.getUTCMonth() % 3));
    return d;
  }
  d.setUTCMonth(0);
  return d;
}

/**
 * The budget window `now` falls in. Calendar windows start at UTC boundaries;
 * rolling windows are the budget's period repeated from its anchor (e.g. every
 * 30-ish days from the day the budget was made, for a monthly budget).
 */
export function budgetWindow(budget: Pick<Budget, 'period' | 'alignment' | 'anchor'>, now: Date): Window {
  if (budget.alignment === 'calendar') {
    const start = calendarStart(budget.period, now);
    return { start, end: addPeriods(start, budget.period, 1) };
  }
  const fixed = FIXED_MS[budget.period];
  let start: Date;
  if (fixed !== undefined) {
    const elapsed = Math.floor((now.getTime() - budget.anchor.getTime()) / fixed);
    start = new Date(budget.anchor.getTime() + Math.max(0, elapsed) * fixed);
  } else {
    start = budget.anchor;
    for (let next = addPeriods(start, budget.period, 1); next <= now; next = addPeriods(start, budget.period, 1)) start = next;
  }
  return { start, end: addPeriods(start, budget.period, 1) };
}

/** Fixed windows of `seconds` aligned to the epoch, for requests and tokens per window. */
export function rateWindow(seconds: number, now: Date): Window {
  const ms = seconds * 1000;
  const start = Math.floor(now.getTime() / ms) * ms;
  return { start: new Date(start), end: new Date(start + ms) };
}

/** Concurrency has no window: one that never ends. */
export const FOREVER: Window = { start: new Date(0), end: new Date(8.64e15) };
