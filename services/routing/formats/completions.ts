import { randomUUID } from 'node:crypto';
import type { ChatChunk, ChatResponse, FinishReason, OpenAIUsage } from '../canonical.js';
import { hasFinish, invalid, isUsageOnly, openAIErrorEvent, optionalBoolean, requireModel, requireObject } from './chat.js';
import type { InboundFormat, Translation } from './types.js';

/** The legacy API's default max_tokens (https://platform.openai.com/docs/api-reference/completions/create). */
const DEFAULT_MAX_TOKENS = 16;

export interface CompletionsTranslation extends Translation {
  /** The body as received, for providers that serve /v1/completions natively. */
  readonly native: Record<string, unknown>;
  /** More than one prompt: only a native completions API can answer it. */
  readonly batched: boolean;
}

function promptOf(body: Record<string, unknown>): { prompt: string; batched: boolean } {
  const prompt = body.prompt;
  if (typeof prompt === 'string') return { prompt, batched: false };
  if (Array.isArray(prompt) && prompt.every((p) => typeof p === 'string')) return { prompt: prompt[0] ?? '', batched: prompt.length > 1 };
  throw invalid("Invalid 'prompt': expected a string or an array of strings.", 'prompt');
}

function completionChoice(text: string, index: number, finish: FinishReason | null) {
  return { text, index, logprobs: null, finish_reason: finish === 'tool_calls' || finish === 'function_call' ? 'stop' : finish };
}

/**
 * The legacy Completions API (https://platform.openai.com/docs/api-reference/completions):
 * passed through to providers that still serve it, converted to chat (the
 * prompt as one user message) for chat-only providers.
 */
export const completionsFormat: InboundFormat & { parse(body: unknown): CompletionsTranslation } = {
  endpoint: 'completions',
  parse(body) {
    const native = requireObject(body);
    const model = requireModel(native);
    optionalBoolean(native, 'stream');
    const { prompt, batched } = promptOf(native);
    if (native.echo === true) throw invalid("'echo' is not supported through the gateway.", 'echo');
    const wantsUsage = (native.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
    const logprobs = typeof native.logprobs === 'number' ? native.logprobs : undefined;
    return {
      native,
      batched,
      chat: {
        model,
        messages: [{ role: 'user', content: prompt }],
        max_tokens: typeof native.max_tokens === 'number' ? native.max_tokens : DEFAULT_MAX_TOKENS,
        temperature: native.temperature as number | undefined,
        top_p: native.top_p as number | undefined,
        n: native.n as number | undefined,
        stop: native.stop as string | string[] | undefined,
        seed: native.seed as number | undefined,
        presence_penalty: native.presence_penalty as number | undefined,
        frequency_penalty: native.frequency_penalty as number | undefined,
        user: native.user as string | undefined,
        stream: native.stream === true,
        ...(logprobs !== undefined ? { logprobs: true, top_logprobs: logprobs } : {}),
      },
      response: (result: ChatResponse) => ({
        id,
        object: 'text_completion',
        created: result.created,
        model: result.model,
        choices: result.choices.map((c) => completionChoice(c.message.content ?? '', c.index, c.finish_reason)),
        usage: result.usage,
      }),
      async *stream(chunks: AsyncIterable<ChatChunk>) {
        for await (const chunk of chunks) {
          if (isUsageOnly(chunk)) {
            if (wantsUsage)
              yield {
                data: JSON.stringify({
                  id,
                  object: 'text_completion',
                  created: chunk.created,
                  model: chunk.model,
                  choices: [],
                  usage: chunk.usage as OpenAIUsage,
                }),
              };
            continue;
          }
          const choices = chunk.choices
            .filter((c) => (c.delta.content ?? '') !== '' || c.finish_reason !== null)
            .map((c) => completionChoice(c.delta.content ?? '', c.index, c.finish_reason));
          if (choices.length > 0)
            yield { data: JSON.stringify({ id, object: 'text_completion', created: chunk.created, model: chunk.model, choices }), final: hasFinish(chunk) };
        }
        yield { data: '[DONE]', final: true };
      },
    };
  },
  errorEvent: openAIErrorEvent,
};
