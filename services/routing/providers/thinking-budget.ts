/*
 * OpenAI's reasoning effort (chat's `reasoning_effort`, the Responses API's `reasoning.effort`) as a thinking budget
 * in tokens, for the providers that take a budget rather than a level: Anthropic's extended thinking and Gemini's
 * thinkingConfig (docs/routing.md#reasoning-effort). One table for both, so a level means the same on each.
 */

/** Thinking tokens per effort level; `none` turns thinking off. */
export const THINKING_BUDGETS: Readonly<Record<string, number>> = { none: 0, minimal: 1024, low: 2048, medium: 8192, high: 24576 };

/** The thinking budget a request's effort asks for (0: none), undefined when it names none; an unknown level is refused. */
export function thinkingBudgetOf(effort: string | null | undefined, invalid: (message: string) => Error): number | undefined {
  if (effort === undefined || effort === null) return undefined;
  const budget = THINKING_BUDGETS[effort];
  if (budget === undefined || !Object.hasOwn(THINKING_BUDGETS, effort)) {
    throw invalid(`reasoning_effort must be one of ${Object.keys(THINKING_BUDGETS).join(', ')} (got "${effort}").`);
  }
  return budget;
}
