/*
 * OpenAI's reasoning effort (chat's `reasoning_effort`, the Responses API's `reasoning.effort`) as a thinking budget
 * in tokens, for the providers that take a budget rather than a level: Anthropic's extended thinking (on Anthropic's
 * API and Bedrock's) and Gemini's thinkingConfig (docs/routing.md#reasoning-effort). One table for all, so a level
 * means the same on each.
 */

/** Thinking tokens per effort level; `none` turns thinking off. */
export const THINKING_BUDGETS: Readonly<Record<string, number>> = { none: 0, minimal: 1024, low: 2048, medium: 8192, high: 24576 };

/** Anthropic's smallest thinking budget (https://docs.claude.com/en/docs/build-with-claude/extended-thinking). */
const MIN_ANTHROPIC_BUDGET = 1024;

/** The thinking budget a request's effort asks for (0: none), undefined when it names none; an unknown level is refused. */
export function thinkingBudgetOf(effort: string | null | undefined, invalid: (message: string) => Error): number | undefined {
  if (effort === undefined || effort === null) return undefined;
  const budget = THINKING_BUDGETS[effort];
  if (budget === undefined || !Object.hasOwn(THINKING_BUDGETS, effort)) {
    throw invalid(`reasoning_effort must be one of ${Object.keys(THINKING_BUDGETS).join(', ')} (got "${effort}").`);
  }
  return budget;
}

/** What an effort asks of an Anthropic model: its output limit and the thinking budget under it. */
export interface AnthropicThinking {
  maxTokens: number;
  budgetTokens: number;
}

/**
 * The effort of a request as an Anthropic model's extended thinking, which must be below max tokens (thinking counts
 * in them): with no max tokens asked, `answerRoom` tokens for the answer come on top of the budget; with some, the
 * budget shrinks to fit under them, refused where under 1024 tokens would be left for it. Undefined: no thinking.
 */
export function anthropicThinkingFor(
  request: { reasoning_effort?: string | null; max_tokens?: number | null; max_completion_tokens?: number | null },
  answerRoom: number,
  invalid: (message: string) => Error,
): AnthropicThinking | undefined {
  const budget = thinkingBudgetOf(request.reasoning_effort, invalid);
  if (!budget) return undefined;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? answerRoom + budget;
  const budgetTokens = Math.min(budget, maxTokens - 1);
  if (budgetTokens < MIN_ANTHROPIC_BUDGET) {
    throw invalid(
      `reasoning_effort "${request.reasoning_effort}" needs max_tokens above ${MIN_ANTHROPIC_BUDGET}: Anthropic's thinking budget is at least ${MIN_ANTHROPIC_BUDGET} tokens and below max_tokens.`,
    );
  }
  return { maxTokens, budgetTokens };
}
