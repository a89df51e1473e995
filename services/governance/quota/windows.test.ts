import { describe, expect, it } from 'vitest';
import { matchesAny as modelAllowed } from '../../kit/glob.js';
import { budgetWindow, rateWindow } from './windows.js';

const at = (iso: string) => new Date(iso);
const win = (w: { start: Date; end: Date }) => [w.start.toISOString(), w.end.toISOString()];

describe('budget windows', () => {
  const now = at('2026-11-25T15:42:17.123Z'); // a Wednesday
  const calendar = (period: Parameters<typeof budgetWindow>[0]['period']) =>
    win(budgetWindow({ period, alignment: 'calendar', anchor: at('2026-01-01T00:00:00Z') }, now));

  it('aligns calendar windows to UTC boundaries', () => {
    expect(calendar('minute')).toEqual(['2026-11-25T15:42:00.000Z', '2026-11-25T15:43:00.000Z']);
    expect(calendar('hour')).toEqual(['2026-11-25T15:00:00.000Z', '2026-11-25T16:00:00.000Z']);
    expect(calendar('day')).toEqual(['2026-11-25T00:00:00.000Z', '2026-11-26T00:00:00.000Z']);
    expect(calendar('week')).toEqual(['2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z']);
    expect(calendar('month')).toEqual(['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    expect(calendar('quarter')).toEqual(['2026-10-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(calendar('year')).toEqual(['2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it("repeats rolling windows from the budget's anchor", () => {
    const anchor = at('2026-09-10T08:00:00Z');
    expect(win(budgetWindow({ period: 'day', alignment: 'rolling', anchor }, now))).toEqual(['2026-11-25T08:00:00.000Z', '2026-11-26T08:00:00.000Z']);
    expect(win(budgetWindow({ period: 'month', alignment: 'rolling', anchor }, now))).toEqual(['2026-11-10T08:00:00.000Z', '2026-12-10T08:00:00.000Z']);
    expect(win(budgetWindow({ period: 'week', alignment: 'rolling', anchor }, now))).toEqual(['2026-11-19T08:00:00.000Z', '2026-11-26T08:00:00.000Z']);
  });

  it('aligns rate windows to the epoch', () => {
    expect(win(rateWindow(60, now))).toEqual(['2026-11-25T15:42:00.000Z', '2026-11-25T15:43:00.000Z']);
    expect(win(rateWindow(10, now))).toEqual(['2026-11-25T15:42:10.000Z', '2026-11-25T15:42:20.000Z']);
  });
});

describe('model allowlists', () => {
  it('matches glob patterns, and an empty list allows nothing', () => {
    expect(modelAllowed(['*'], 'openai/gpt-4o')).toBe(true);
    expect(modelAllowed(['openai/*'], 'openai/gpt-4o')).toBe(true);
    expect(modelAllowed(['openai/*'], 'anthropic/claude')).toBe(false);
    expect(modelAllowed(['openai/gpt-4o?mini', 'smart'], 'openai/gpt-4o-mini')).toBe(true);
    expect(modelAllowed(['openai/gpt-4o'], 'openai/gpt-4o-mini')).toBe(false);
    expect(modelAllowed(['gpt.4'], 'gpt-4')).toBe(false);
    expect(modelAllowed([], 'mock/echo')).toBe(false);
  });
});
