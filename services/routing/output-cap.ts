import type { CompletionsTranslation } from './formats/completions.js';
import type { Translation } from './formats/types.js';

/** The legacy completions API's default max_tokens, which a native provider applies when the request sets none. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/**
 * Applies the output cap governance reserved for (0: none): the request's own
 * cap is lowered to it, or set to it where the request had none, so a
 * provider cannot generate more than the reservation covers. Adapters send
 * it in their provider's own parameter (max_tokens, max_completion_tokens,
 * maxOutputTokens, maxTokens).
 */
export function capOutputTokens(translation: Translation, cap: number): void {
  if (cap <= 0) return;
  const chat = translation.chat;
  if (typeof chat.max_completion_tokens === 'number') chat.max_completion_tokens = Math.min(chat.max_completion_tokens, cap);
  else chat.max_tokens = typeof chat.max_tokens === 'number' ? Math.min(chat.max_tokens, cap) : cap;
  if ('native' in translation) {
    const native = (translation as CompletionsTranslation).native;
    native.max_tokens = Math.min(typeof native.max_tokens === 'number' ? native.max_tokens : COMPLETIONS_DEFAULT_MAX_TOKENS, cap);
  }
}
