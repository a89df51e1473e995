import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Usage } from '../../gen/gateway/v1/common.js';
import type { MockProviderConfig } from '../config.js';
import type { ChatRequest, Completion, Provider, ProviderCall, StreamPiece } from './types.js';

/**
 * A built-in provider that needs no account: it answers every chat request
 * with a deterministic reply derived from the last user message, OpenAI-shaped,
 * with token usage estimated at four characters per token.
 */
export class MockProvider implements Provider {
  readonly models: readonly string[];

  constructor(
    readonly name: string,
    private readonly config: MockProviderConfig,
  ) {
    this.models = config.models;
  }

  async complete({ request, signal }: ProviderCall): Promise<Completion> {
    if (this.config.latencyMs > 0) await sleep(this.config.latencyMs, undefined, { signal });
    const reply = mockReply(request);
    const usage = mockUsage(request, reply);
    const choices = Array.from({ length: choiceCount(request) }, (_, index) => ({
      index,
      message: { role: 'assistant', content: reply, refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    }));
    const body = {
      id: completionId(),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      choices,
      usage: openAIUsage(usage),
      system_fingerprint: 'fp_mock',
    };
    return { body: Buffer.from(JSON.stringify(body)), usage };
  }

  async stream({ request, signal }: ProviderCall): Promise<AsyncIterable<StreamPiece>> {
    if (this.config.latencyMs > 0) await sleep(this.config.latencyMs, undefined, { signal });
    return this.pieces(request, signal);
  }

  private async *pieces(request: ChatRequest, signal: AbortSignal): AsyncGenerator<StreamPiece> {
    const reply = mockReply(request);
    const usage = mockUsage(request, reply);
    const base = { id: completionId(), object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: request.model, system_fingerprint: 'fp_mock' };
    const words = reply.split(/(?<= )/);
    const n = choiceCount(request);
    const chunk = (delta: object, finish: string | null, index: number) =>
      JSON.stringify({ ...base, choices: [{ index, delta, logprobs: null, finish_reason: finish }] });
    for (let index = 0; index < n; index++) {
      yield { data: chunk({ role: 'assistant', content: '', refusal: null }, null, index), usageOnly: false };
      for (const word of words) {
        if (this.config.chunkDelayMs > 0) await sleep(this.config.chunkDelayMs, undefined, { signal });
        yield { data: chunk({ content: word }, null, index), usageOnly: false };
      }
      yield { data: chunk({}, 'stop', index), usageOnly: false };
    }
    yield { data: JSON.stringify({ ...base, choices: [], usage: openAIUsage(usage) }), usage, usageOnly: true };
  }

  async close(): Promise<void> {}
}

function choiceCount(request: ChatRequest): number {
  return typeof request.n === 'number' && request.n > 1 ? Math.min(request.n, 8) : 1;
}

function completionId(): string {
  return `chatcmpl-mock${randomBytes(10).toString('hex')}`;
}

/** Text of a message's content, whether a string or an array of content parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((part: { type?: string; text?: string }) => (part?.type === 'text' && typeof part.text === 'string' ? part.text : '')).join(' ');
  }
  return '';
}

export function mockReply(request: ChatRequest): string {
  const messages = request.messages as { role?: string; content?: unknown }[];
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  const text = contentText(lastUser?.content).trim().replace(/\s+/g, ' ');
  const quoted = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return `This is a mock response to: ${quoted}`;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function mockUsage(request: ChatRequest, reply: string): Usage {
  const messages = request.messages as { content?: unknown }[];
  const prompt = messages.reduce((sum, m) => sum + estimateTokens(contentText(m?.content)) + 3, 0);
  const completion = estimateTokens(reply) * choiceCount(request);
  return { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, cachedTokens: 0, reasoningTokens: 0 };
}

function openAIUsage(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}
