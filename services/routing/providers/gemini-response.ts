import { randomUUID } from 'node:crypto';
import {
  chatCompletionId,
  nowSeconds,
  type ChatChunk,
  type ChatResponse,
  type ChunkChoice,
  type FinishReason,
  type OpenAIUsage,
  type ToolCall,
} from '../canonical.js';
import type { GeminiContent, GeminiPart, SignatureCache } from './gemini-mapping.js';
import { ProviderError } from './types.js';

/**
 * Gemini's GenerateContentResponse (https://ai.google.dev/api/generate-content#generatecontentresponse)
 * turned into OpenAI chat completions and chunks.
 */

export interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

interface LogprobCandidate {
  token?: string;
  logProbability?: number;
}

export interface Candidate {
  content?: GeminiContent;
  finishReason?: string;
  index?: number;
  logprobsResult?: { topCandidates?: { candidates?: LogprobCandidate[] }[]; chosenCandidates?: LogprobCandidate[] };
}

export interface GenerateContentResponse {
  candidates?: Candidate[];
  promptFeedback?: { blockReason?: string; blockReasonMessage?: string };
  usageMetadata?: UsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

export interface ResponseContext {
  provider: string;
  /** The model asked for, reported when Gemini does not name its modelVersion. */
  model: string;
  signatures: SignatureCache;
}

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT']);

export function finishReason(reason: string, hasToolCalls: boolean): FinishReason {
  if (FILTERED.has(reason)) return 'content_filter';
  if (hasToolCalls) return 'tool_calls';
  return reason === 'MAX_TOKENS' ? 'length' : 'stop';
}

/** A prompt Gemini refused outright comes back as 200 with no candidates; the router should treat it like a policy rejection. */
function blockedPrompt(response: GenerateContentResponse, provider: string): ProviderError | undefined {
  const reason = response.promptFeedback?.blockReason;
  if (!reason || (response.candidates?.length ?? 0) > 0) return undefined;
  const detail = response.promptFeedback?.blockReasonMessage ? `: ${response.promptFeedback.blockReasonMessage}` : '';
  return new ProviderError('content_policy', provider, `Provider ${provider} blocked the prompt (${reason})${detail}.`);
}

/** completion_tokens counts thinking too, as OpenAI's does for reasoning models. */
export function toUsage(meta: UsageMetadata | undefined): OpenAIUsage {
  const prompt = (meta?.promptTokenCount ?? 0) + (meta?.toolUsePromptTokenCount ?? 0);
  const thoughts = meta?.thoughtsTokenCount ?? 0;
  const completion = (meta?.candidatesTokenCount ?? 0) + thoughts;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: meta?.totalTokenCount ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: meta?.cachedContentTokenCount ?? 0 },
    completion_tokens_details: { reasoning_tokens: thoughts },
  };
}

/** Visible text and tool calls of a candidate's parts, and its thought summaries (asked for with includeThoughts) apart. */
function readParts(parts: readonly GeminiPart[], signatures: SignatureCache): { text: string; thoughts: string; calls: ToolCall[] } {
  let text = '';
  let thoughts = '';
  const calls: ToolCall[] = [];
  for (const part of parts) {
    if (part.thought) {
      thoughts += part.text ?? '';
      continue;
    }
    if (typeof part.text === 'string') text += part.text;
    if (part.functionCall) {
      const id = `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
      if (part.thoughtSignature) signatures.set(id, part.thoughtSignature);
      calls.push({ id, type: 'function', function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) } });
    }
  }
  return { text, thoughts, calls };
}

/** OpenAI's logprobs object from Gemini's chosen and top candidates. */
function toLogprobs(result: Candidate['logprobsResult']): unknown {
  if (!result) return null;
  const entry = (c: LogprobCandidate | undefined) => ({ token: c?.token ?? '', logprob: c?.logProbability ?? 0, bytes: [...Buffer.from(c?.token ?? '')] });
  return {
    content: (result.chosenCandidates ?? []).map((chosen, i) => ({ ...entry(chosen), top_logprobs: (result.topCandidates?.[i]?.candidates ?? []).map(entry) })),
    refusal: null,
  };
}

export function fromGeminiResponse(response: GenerateContentResponse, context: ResponseContext): ChatResponse {
  const blocked = blockedPrompt(response, context.provider);
  if (blocked) throw blocked;
  // No candidates and no block reason: nothing to answer with, and worth a retry.
  if (!response.candidates?.length) throw new ProviderError('server', context.provider, `Provider ${context.provider} returned no candidates.`);
  return {
    id: chatCompletionId(),
    object: 'chat.completion',
    created: nowSeconds(),
    model: response.modelVersion ?? context.model,
    choices: (response.candidates ?? []).map((candidate, position) => {
      const { text, thoughts, calls } = readParts(candidate.content?.parts ?? [], context.signatures);
      const message = { role: 'assistant' as const, content: text || (calls.length > 0 ? null : ''), refusal: null };
      return {
        index: candidate.index ?? position,
        message: { ...message, ...(calls.length > 0 ? { tool_calls: calls } : {}), ...(thoughts ? { reasoning_content: thoughts } : {}) },
        finish_reason: finishReason(candidate.finishReason ?? 'STOP', calls.length > 0),
        logprobs: toLogprobs(candidate.logprobsResult),
      };
    }),
    usage: toUsage(response.usageMetadata),
  };
}

/**
 * Streamed GenerateContentResponses as OpenAI chunks: per candidate a role
 * chunk, then content deltas, each tool call whole in one delta (Gemini does
 * not split calls), a finish chunk; then one usage-only chunk, as OpenAI sends
 * with stream_options.include_usage. A stream that ends before every
 * candidate finished was cut off, and fails rather than look complete.
 */
export async function* toChunks(responses: AsyncIterable<GenerateContentResponse>, context: ResponseContext): AsyncGenerator<ChatChunk> {
  const id = chatCompletionId();
  const created = nowSeconds();
  let model: string | undefined;
  let usage: UsageMetadata | undefined;
  const candidates = new Map<number, { toolCalls: number; finished: boolean }>();
  const chunk = (choice: ChunkChoice): ChatChunk => ({ id, object: 'chat.completion.chunk', created, model: model ?? context.model, choices: [choice] });

  for await (const response of responses) {
    const blocked = blockedPrompt(response, context.provider);
    if (blocked) throw blocked;
    model ??= response.modelVersion;
    if (response.usageMetadata) usage = response.usageMetadata;
    for (const candidate of response.candidates ?? []) {
      const index = candidate.index ?? 0;
      let state = candidates.get(index);
      if (!state) {
        state = { toolCalls: 0, finished: false };
        candidates.set(index, state);
        yield chunk({ index, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null });
      }
      const { text, thoughts, calls } = readParts(candidate.content?.parts ?? [], context.signatures);
      if (thoughts) yield chunk({ index, delta: { reasoning_content: thoughts }, finish_reason: null, logprobs: null });
      if (text) yield chunk({ index, delta: { content: text }, finish_reason: null, logprobs: toLogprobs(candidate.logprobsResult) });
      if (calls.length > 0) {
        const deltas = calls.map((call) => ({ index: state!.toolCalls++, id: call.id, type: 'function' as const, function: call.function }));
        yield chunk({ index, delta: { tool_calls: deltas }, finish_reason: null, logprobs: null });
      }
      if (candidate.finishReason) {
        state.finished = true;
        yield chunk({ index, delta: {}, finish_reason: finishReason(candidate.finishReason, state.toolCalls > 0), logprobs: null });
      }
    }
  }
  if (candidates.size === 0 || [...candidates.values()].some((c) => !c.finished)) {
    throw new ProviderError('network', context.provider, `Provider ${context.provider} ended the stream before the reply was complete.`);
  }
  yield { id, object: 'chat.completion.chunk', created, model: model ?? context.model, choices: [], usage: toUsage(usage) };
}
