import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  chatCompletionId,
  contentText,
  nowSeconds,
  type ChatChunk,
  type ChatRequest,
  type ChatResponse,
  type EmbeddingsRequest,
  type EmbeddingsResponse,
  type OpenAIUsage,
} from '../canonical.js';
import { PROVIDER_TYPES } from './catalog.js';
import type { Capabilities, ProviderAdapter, ProviderCall } from './types.js';

export const mockProviderConfig = z.strictObject({
  type: z.literal('mock'),
  latencyMs: z.number().int().min(0).default(0).describe('Delay before the reply (or before the first chunk when streaming).'),
  chunkDelayMs: z.number().int().min(0).default(0).describe('Delay between streamed chunks.'),
  models: z.array(z.string().min(1)).default(['echo']).describe('Models listed by /v1/models; any model name is answered.'),
  fillOutputCap: z
    .boolean()
    .default(false)
    .describe(
      "Answer with as many tokens as the request's output cap allows, as a model that talks until stopped does (32,768 without a cap); for testing budgets.",
    ),
});

export type MockProviderConfig = z.infer<typeof mockProviderConfig>;

const EMBEDDING_DIMENSIONS = 64;

/**
 * A built-in provider that needs no account: it answers every chat request
 * with a deterministic reply derived from the last user message, and every
 * embeddings request with a deterministic vector, OpenAI-shaped, with token
 * usage estimated at four characters per token.
 */
export class MockAdapter implements ProviderAdapter {
  readonly type = 'mock';
  readonly capabilities: Capabilities = PROVIDER_TYPES.mock.capabilities;
  readonly credentialCount = 1;
  readonly models: readonly string[];

  constructor(
    readonly name: string,
    private readonly config: MockProviderConfig,
  ) {
    this.models = config.models;
  }

  async chat({ request, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    if (this.config.latencyMs > 0) await sleep(this.config.latencyMs, undefined, { signal });
    const reply = mockReply(request, this.config.fillOutputCap);
    return {
      id: chatCompletionId(),
      object: 'chat.completion',
      created: nowSeconds(),
      model: request.model,
      choices: Array.from({ length: choiceCount(request) }, (_, index) => ({
        index,
        message: { role: 'assistant' as const, content: reply, refusal: null },
        logprobs: null,
        finish_reason: 'stop' as const,
      })),
      usage: mockUsage(request, reply),
      system_fingerprint: 'fp_mock',
    };
  }

  async chatStream({ request, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    if (this.config.latencyMs > 0) await sleep(this.config.latencyMs, undefined, { signal });
    return this.chunks(request, signal);
  }

  private async *chunks(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatChunk> {
    const reply = mockReply(request, this.config.fillOutputCap);
    const base = {
      id: chatCompletionId(),
      object: 'chat.completion.chunk' as const,
      created: nowSeconds(),
      model: request.model,
      system_fingerprint: 'fp_mock',
    };
    const chunk = (index: number, delta: ChatChunk['choices'][number]['delta'], finish: 'stop' | null): ChatChunk => ({
      ...base,
      choices: [{ index, delta, logprobs: null, finish_reason: finish }],
    });
    for (let index = 0; index < choiceCount(request); index++) {
      yield chunk(index, { role: 'assistant', content: '', refusal: null }, null);
      for (const word of reply.split(/(?<= )/)) {
        if (this.config.chunkDelayMs > 0) await sleep(this.config.chunkDelayMs, undefined, { signal });
        yield chunk(index, { content: word }, null);
      }
      yield chunk(index, {}, 'stop');
    }
    yield { ...base, choices: [], usage: mockUsage(request, reply) };
  }

  async embeddings({ request, signal }: ProviderCall<EmbeddingsRequest>): Promise<EmbeddingsResponse> {
    if (this.config.latencyMs > 0) await sleep(this.config.latencyMs, undefined, { signal });
    const inputs = (Array.isArray(request.input) ? request.input : [request.input]).map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
    const tokens = inputs.reduce((sum, text) => sum + estimateTokens(text), 0);
    return {
      object: 'list',
      data: inputs.map((text, index) => {
        const vector = mockEmbedding(text, request.dimensions ?? EMBEDDING_DIMENSIONS);
        // base64 is little-endian float32, as OpenAI encodes it.
        const embedding = request.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
        return { object: 'embedding' as const, index, embedding };
      }),
      model: request.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }

  async close(): Promise<void> {}
}

function choiceCount(request: ChatRequest): number {
  return typeof request.n === 'number' && request.n > 1 ? Math.min(request.n, 8) : 1;
}

export function mockReply(request: ChatRequest, fillOutputCap = false): string {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  const text = contentText(lastUser?.content as Parameters<typeof contentText>[0])
    .trim()
    .replace(/\s+/g, ' ');
  const quoted = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  const reply = `This is a mock response to: ${quoted}`;
  // As a provider does, it stops at the request's output cap (four characters a token, as its usage counts).
  const cap = request.max_completion_tokens ?? request.max_tokens ?? (fillOutputCap ? UNCAPPED_TALK_TOKENS : undefined);
  if (typeof cap !== 'number') return reply;
  return fillOutputCap ? reply.padEnd(cap * 4, ' talk').slice(0, cap * 4) : reply.slice(0, cap * 4);
}

/** How long a mock that talks until stopped goes on when nothing stops it. */
const UNCAPPED_TALK_TOKENS = 32_768;

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function mockUsage(request: ChatRequest, reply: string): OpenAIUsage {
  const prompt = request.messages.reduce((sum, m) => sum + estimateTokens(contentText(m.content as Parameters<typeof contentText>[0])) + 3, 0);
  const completion = estimateTokens(reply) * choiceCount(request);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

/**
 * A unit vector from the words of the text (a hashed bag of words), so texts
 * sharing words are close and the same text always gives the same vector.
 */
export function mockEmbedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const digest = createHash('sha256').update(word).digest();
    vector[digest.readUInt32BE(0) % dimensions]! += digest[4]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}
