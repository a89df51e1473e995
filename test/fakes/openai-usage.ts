/**
 * Usage as OpenAI-compatible servers report it, each in its own dialect:
 *   openai      prompt_tokens_details.cached_tokens; reasoning_tokens inside completion_tokens
 *               (https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage)
 *   xai         the same fields, but reasoning counted apart: total = prompt + completion + reasoning
 *               (https://docs.x.ai/docs/key-information/consumption-and-rate-limits)
 *   deepseek    prompt_cache_hit_tokens and prompt_cache_miss_tokens instead of prompt_tokens_details
 *               (https://api-docs.deepseek.com/api/create-chat-completion)
 *   openrouter  prompt_tokens_details.cached_tokens and cache_write_tokens
 *               (https://openrouter.ai/docs/use-cases/usage-accounting)
 * A prompt is one token per character of its messages' JSON (a talker model's,
 * one per UTF-8 byte of its messages' and tools' JSON). Prompt caching
 * works as OpenAI documents it: a prompt of 1,024 tokens or more is cached, and
 * a later prompt sharing a prefix with it reads that prefix from the cache, in
 * steps of 128 tokens from the first 1,024 (an OpenRouter prompt seen for the
 * first time reports that much written). Reasoning models spend
 * FAKE_REASONING_TOKENS on every answer.
 */
export type UsageDialect = 'openai' | 'xai' | 'deepseek' | 'openrouter';

export const FAKE_REASONING_TOKENS = 64;

const REASONING_MODELS = /^(?:o\d|gpt-5|grok-(?:3-mini|4(?!.*non-reasoning))|deepseek-reasoner)/;
const CACHE_MIN = 1_024;
const CACHE_STEP = 128;
/** Prompts remembered for cache hits: enough for any test, bounded for a long run. */
const REMEMBERED = 200;

/** The part of a prefix of this many tokens that the cache holds. */
function cacheable(tokens: number): number {
  return tokens < CACHE_MIN ? 0 : CACHE_MIN + Math.floor((tokens - CACHE_MIN) / CACHE_STEP) * CACHE_STEP;
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** A usage counter with the server's prompt cache: what each answer to `body` in `text` reports. */
export function usageMeter(dialect: UsageDialect): (body: Record<string, unknown>, model: string, text: string) => Record<string, unknown> {
  const seen: string[] = [];
  return (body, model, text) => {
    const prompt = JSON.stringify(body.messages ?? []);
    const cached = seen.reduce((most, earlier) => Math.max(most, cacheable(sharedPrefix(prompt, earlier))), 0);
    const written = dialect === 'openrouter' && cached === 0 ? cacheable(prompt.length) : 0;
    if (prompt.length >= CACHE_MIN && !seen.includes(prompt)) seen.push(prompt);
    if (seen.length > REMEMBERED) seen.shift();
    const visible = text.split(' ').length;
    const reasoning = REASONING_MODELS.test(model) ? FAKE_REASONING_TOKENS : 0;
    const completion = dialect === 'xai' ? visible : visible + reasoning;
    const billed = model.startsWith('talker') ? Buffer.byteLength(JSON.stringify([body.messages, body.tools])) : prompt.length;
    const base = { prompt_tokens: billed, completion_tokens: completion, total_tokens: billed + visible + reasoning };
    const completionDetails = { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 };
    switch (dialect) {
      case 'openai':
        return { ...base, prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 }, completion_tokens_details: completionDetails };
      case 'xai':
        return {
          ...base,
          prompt_tokens_details: { text_tokens: billed, audio_tokens: 0, image_tokens: 0, cached_tokens: cached },
          completion_tokens_details: completionDetails,
          num_sources_used: 0,
        };
      case 'deepseek':
        return {
          ...base,
          prompt_cache_hit_tokens: cached,
          prompt_cache_miss_tokens: billed - cached,
          ...(reasoning > 0 ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}),
        };
      case 'openrouter':
        return {
          ...base,
          prompt_tokens_details: { cached_tokens: cached, cache_write_tokens: written, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: reasoning },
        };
    }
  };
}
