import type { ChatChunk, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, OpenAIUsage } from './canonical.js';
import { ChatAssembler, chunkFromNative } from './answers.js';
import type { CompletionsTranslation } from './formats/completions.js';
import type { OutEvent, Translation } from './formats/types.js';
import { hasFinish, invalid } from './formats/chat.js';
import { ProviderError, type Timeouts } from './providers/types.js';
import { GatewayError } from '../kit/errors.js';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { Target } from './router/router.js';
import { endProviderSpan, startProviderSpan } from './provider-span.js';
import { tracingContent, tracingOn } from '../kit/tracing.js';

/** A whole answer: from chat, or from a provider's native completions API. */
export type Answer = { kind: 'chat'; response: ChatResponse } | { kind: 'native'; body: Record<string, unknown> };

/** A stream that has produced its first chunk; `usage()` and `answer()` are known once it is read to the end. */
export interface OpenStream {
  events: AsyncIterable<OutEvent>;
  usage(): OpenAIUsage | undefined;
  /** The whole answer the stream added up to, as the cache stores it; undefined if it did not finish. */
  answer(): ChatResponse | undefined;
}

function isCompletions(translation: Translation): translation is CompletionsTranslation {
  return 'native' in translation;
}

/** One provider call for a whole answer, in the API the deployment's provider serves best; traced as a GenAI span. */
export async function callForAnswer(translation: Translation, target: Target): Promise<Answer> {
  if (!tracingOn()) return answerFrom(translation, target);
  const native = isCompletions(translation) && target.deployment.provider.completions !== undefined;
  const span = providerSpan(translation, target, native);
  try {
    const answer = await answerFrom(translation, target);
    const body = answer.kind === 'chat' ? answer.response : answer.body;
    endProviderSpan(span, {
      model: body.model,
      usage: body.usage as OpenAIUsage | undefined,
      output: translation.contentWithheld ? undefined : answer.kind === 'chat' ? answer.response.choices : body.choices,
    });
    return answer;
  } catch (err) {
    endProviderSpan(span, {}, err);
    throw err;
  }
}

/** The span of a provider call: a native completions call (its prompt) or a chat one (its messages), unless withheld. */
function providerSpan(translation: Translation, target: Target, native: boolean) {
  const input = translation.contentWithheld ? undefined : native ? (translation as CompletionsTranslation).native.prompt : translation.chat.messages;
  return startProviderSpan(native ? 'text_completion' : 'chat', target, input);
}

async function answerFrom(translation: Translation, target: Target): Promise<Answer> {
  const { provider, model } = target.deployment;
  if (isCompletions(translation)) {
    if (provider.completions) {
      return {
        kind: 'native',
        body: await provider.completions({ request: { ...translation.native, model }, credential: target.credential, signal: target.signal }),
      };
    }
    if (translation.batched) throw invalid(`Provider ${provider.name} has no completions API, so 'prompt' must be a single string.`, 'prompt');
  }
  return { kind: 'chat', response: await provider.chat({ request: { ...translation.chat, model }, credential: target.credential, signal: target.signal }) };
}

/** A chat answer the provider refused on content policy, for routing's content-policy fallbacks. */
export function refusal(answer: Answer, provider: string): ProviderError | undefined {
  if (answer.kind !== 'chat' || !answer.response.choices.some((c) => c.finish_reason === 'content_filter')) return undefined;
  return new ProviderError('content_policy', provider, `Provider ${provider} refused the request on content policy.`);
}

export async function callForEmbeddings(request: EmbeddingsRequest, target: Target): Promise<EmbeddingsResponse> {
  const { provider, model } = target.deployment;
  if (!provider.embeddings) throw new ProviderError('bad_request', provider.name, `Provider ${provider.name} does not offer embeddings.`);
  return provider.embeddings({ request: { ...request, model }, credential: target.credential, signal: target.signal });
}

/** A stream's first item, within firstByteMs; a stream that stalls before it is a failed attempt, and `attempt` is aborted. */
export async function firstWithin<T>(iterator: AsyncIterator<T>, timeouts: Timeouts, provider: string, attempt: AbortController): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      attempt.abort();
      reject(new ProviderError('timeout', provider, `Provider ${provider} sent no data within ${timeouts.firstByteMs} ms.`));
    }, timeouts.firstByteMs);
  });
  try {
    return await Promise.race([iterator.next(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a stream and waits for its first chunk, within firstByteMs: a stream
 * that stalls before its first byte is a failed attempt (and routing fails
 * over), while one that has started belongs to the client.
 */
export async function openStream(translation: Translation, target: Target, timeouts: Timeouts): Promise<OpenStream> {
  const { provider, model } = target.deployment;
  const native = isCompletions(translation) && provider.completionsStream !== undefined;
  const span = providerSpan(translation, target, native);
  const attempt = new AbortController();
  const signal = AbortSignal.any([target.signal, attempt.signal]);
  let iterator: AsyncIterator<ChatChunk | Record<string, unknown>>;
  let first: IteratorResult<ChatChunk | Record<string, unknown>>;
  try {
    const source: AsyncIterable<ChatChunk | Record<string, unknown>> = native
      ? await provider.completionsStream!({ request: { ...(translation as CompletionsTranslation).native, model }, credential: target.credential, signal })
      : await provider.chatStream({ request: { ...translation.chat, model }, credential: target.credential, signal });
    iterator = source[Symbol.asyncIterator]();
    first = await firstWithin(iterator, timeouts, provider.name, attempt);
  } catch (err) {
    endProviderSpan(span, {}, err);
    throw err;
  }
  // The provider is busy with this call until the stream ends (chunks() aborts the attempt) or the client goes away.
  target.heldUntil = signal;

  let usage: OpenAIUsage | undefined;
  let answerModel: unknown;
  const assembler = new ChatAssembler();
  const output = new OutputGuard(translation.chat, provider.name);
  async function* chunks() {
    let failure: unknown;
    try {
      for (let next = first; !next.done; next = await iterator.next()) {
        const value = next.value as ChatChunk;
        if (value.usage) usage = value.usage;
        answerModel ??= value.model;
        const chunk = native ? chunkFromNative(value) : value;
        output.add(chunk);
        assembler.add(chunk);
        yield value;
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      attempt.abort();
      endProviderSpan(
        span,
        { model: answerModel, usage, output: tracingContent() && !translation.contentWithheld ? assembler.response()?.choices : undefined },
        failure,
      );
    }
  }
  return {
    events: native ? passThrough(chunks(), translation as CompletionsTranslation) : translation.stream(chunks()),
    usage: () => usage,
    answer: () => assembler.response(),
  };
}

/** Native completions chunks go to the client as they are, minus the usage chunk it did not ask for. */
async function* passThrough(chunks: AsyncIterable<ChatChunk>, translation: CompletionsTranslation): AsyncGenerator<OutEvent> {
  const wantsUsage = (translation.native.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  for await (const chunk of chunks) {
    if (!wantsUsage && chunk.choices?.length === 0 && chunk.usage) continue;
    yield { data: JSON.stringify(chunk), final: hasFinish(chunk) };
  }
  yield { data: '[DONE]', final: true };
}

/** How far past its output cap a stream may run before it is ended: o200k may count fewer tokens than another provider's tokenizer. */
const CAP_SLACK = { factor: 1.25, tokens: 32 };
/** Text a stream may send without a space before it is counted anyway. */
const UNSPACED_TEXT = 256;

/**
 * Ends a stream whose provider goes on past the output cap the request (and
 * its reservation) allows: the provider was told the cap, so running past it
 * is its fault, and what it sends after would be spend no reservation covered.
 */
class OutputGuard {
  private readonly limit: number | undefined;
  private tokens = 0;
  /** Each choice's text not counted yet: a word its chunk split is counted once, when the next space ends it. */
  private readonly pending = new Map<number, string>();

  constructor(
    chat: Translation['chat'],
    private readonly provider: string,
  ) {
    const cap = chat.max_completion_tokens ?? chat.max_tokens;
    this.limit = typeof cap === 'number' ? Math.ceil(cap * CAP_SLACK.factor * Math.max(1, chat.n ?? 1)) + CAP_SLACK.tokens : undefined;
  }

  add(chunk: ChatChunk): void {
    if (this.limit === undefined) return;
    for (const choice of chunk.choices ?? []) {
      const { content, refusal, tool_calls } = choice.delta ?? {};
      let text = this.pending.get(choice.index) ?? '';
      for (const part of [content, refusal, ...(tool_calls ?? []).map((call) => call.function?.arguments)]) if (part) text += part;
      // o200k's words start with their space, so no token spans one; text without spaces (CJK, encoded data) is counted as it comes.
      const cut = text.length > UNSPACED_TEXT ? text.length : text.lastIndexOf(' ');
      if (cut > 0) this.tokens += countTokens(text.slice(0, cut));
      this.pending.set(choice.index, cut > 0 ? text.slice(cut) : text);
    }
    if (this.tokens > this.limit) {
      throw new GatewayError('upstream_error', `Provider ${this.provider} went on past the output tokens this request may use; the gateway ended the stream.`);
    }
  }
}
