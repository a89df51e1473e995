import type { ChatChunk, ChatResponse, ChunkChoice, EmbeddingsResponse, FinishReason, OpenAIUsage, ThinkingBlock, ToolCall } from './canonical.js';

/**
 * Answers in the shape the cache keeps (StoredAnswer.answer): a chat
 * completion, from which every inbound API renders its own body or stream, or
 * an embeddings list. Streams are assembled into one; native completions
 * answers are converted, so a streamed answer can serve a whole request and
 * the other way round.
 */
export type CanonicalAnswer = { chat: ChatResponse } | { embeddings: EmbeddingsResponse };

export const encodeAnswer = (answer: CanonicalAnswer): Buffer => Buffer.from(JSON.stringify(answer));

export function decodeAnswer(bytes: Uint8Array): CanonicalAnswer {
  const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<{ chat: ChatResponse; embeddings: EmbeddingsResponse }>;
  if (parsed.chat) return { chat: parsed.chat };
  if (parsed.embeddings) return { embeddings: parsed.embeddings };
  throw new Error('stored answer is neither a chat completion nor an embeddings list');
}

interface NativeChoice {
  index?: number;
  text?: string;
  finish_reason?: string | null;
}

const finishOf = (reason: string | null | undefined): FinishReason | null => (reason ? (reason as FinishReason) : null);

/** A legacy text_completion body (or stream chunk) as a chat completion (or chunk). */
export function chatFromNative(body: Record<string, unknown>): ChatResponse {
  const choices = (body.choices as NativeChoice[] | undefined) ?? [];
  return {
    id: String(body.id ?? ''),
    object: 'chat.completion',
    created: Number(body.created ?? 0),
    model: String(body.model ?? ''),
    choices: choices.map((c, i) => ({
      index: c.index ?? i,
      message: { role: 'assistant', content: c.text ?? '' },
      finish_reason: finishOf(c.finish_reason),
      logprobs: null,
    })),
    ...(body.usage ? { usage: body.usage as OpenAIUsage } : {}),
  };
}

export function chunkFromNative(chunk: Record<string, unknown>): ChatChunk {
  const choices = (chunk.choices as NativeChoice[] | undefined) ?? [];
  return {
    id: String(chunk.id ?? ''),
    object: 'chat.completion.chunk',
    created: Number(chunk.created ?? 0),
    model: String(chunk.model ?? ''),
    choices: choices.map((c, i) => ({ index: c.index ?? i, delta: { content: c.text ?? '' }, finish_reason: finishOf(c.finish_reason) })),
    usage: (chunk.usage as OpenAIUsage | undefined) ?? null,
  };
}

interface ChoiceParts {
  content: string;
  sawContent: boolean;
  refusal: string | null;
  reasoning: string | null;
  /** Signed thinking blocks, and the reasoning streamed since the last one ended (the next one's text). */
  thinking: ThinkingBlock[];
  thinkingText: string;
  toolCalls: Map<number, ToolCall>;
  finish: FinishReason | null;
}

/** Collects a stream's chunks into the chat completion they add up to. */
export class ChatAssembler {
  private id = '';
  private created = 0;
  private model = '';
  private fingerprint: string | null | undefined;
  private usage: OpenAIUsage | undefined;
  private readonly choices = new Map<number, ChoiceParts>();

  add(chunk: ChatChunk): void {
    this.id ||= chunk.id;
    this.created ||= chunk.created;
    this.model ||= chunk.model;
    this.fingerprint ??= chunk.system_fingerprint;
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      let parts = this.choices.get(choice.index);
      if (!parts) {
        parts = { content: '', sawContent: false, refusal: null, reasoning: null, thinking: [], thinkingText: '', toolCalls: new Map(), finish: null };
        this.choices.set(choice.index, parts);
      }
      const delta = choice.delta ?? {};
      if (typeof delta.content === 'string') {
        parts.content += delta.content;
        parts.sawContent = true;
      }
      if (typeof delta.refusal === 'string') parts.refusal = (parts.refusal ?? '') + delta.refusal;
      if (typeof delta.reasoning_content === 'string') {
        parts.reasoning = (parts.reasoning ?? '') + delta.reasoning_content;
        parts.thinkingText += delta.reasoning_content;
      }
      for (const block of delta.thinking_blocks ?? []) {
        parts.thinking.push(block.type === 'thinking' ? { ...block, thinking: parts.thinkingText } : block);
        if (block.type === 'thinking') parts.thinkingText = '';
      }
      for (const call of delta.tool_calls ?? []) {
        const known = parts.toolCalls.get(call.index) ?? { id: '', type: 'function' as const, function: { name: '', arguments: '' } };
        if (call.id) known.id = call.id;
        if (call.function?.name) known.function.name += call.function.name;
        if (call.function?.arguments) known.function.arguments += call.function.arguments;
        parts.toolCalls.set(call.index, known);
      }
      if (choice.finish_reason) parts.finish = choice.finish_reason;
    }
  }

  /** The whole answer; undefined until every choice has finished. */
  response(): ChatResponse | undefined {
    const choices = [...this.choices.entries()].sort(([a], [b]) => a - b);
    if (choices.length === 0 || choices.some(([, parts]) => parts.finish === null)) return undefined;
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: choices.map(([index, parts]) => {
        const toolCalls = [...parts.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
        return {
          index,
          message: {
            role: 'assistant',
            content: parts.sawContent || toolCalls.length === 0 ? parts.content : null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
            ...(parts.refusal !== null ? { refusal: parts.refusal } : {}),
            ...(parts.reasoning !== null ? { reasoning_content: parts.reasoning } : {}),
            ...(parts.thinking.length > 0 ? { thinking_blocks: parts.thinking } : {}),
          },
          finish_reason: parts.finish,
          logprobs: null,
        };
      }),
      ...(this.usage ? { usage: this.usage } : {}),
      ...(this.fingerprint !== undefined ? { system_fingerprint: this.fingerprint } : {}),
    };
  }
}

/** An answer's thinking as a provider streams it: each signed block's text, then its signature; redacted blocks whole. */
function thinkingDeltas(message: ChatResponse['choices'][number]['message']): ChunkChoice['delta'][] {
  if (!message.thinking_blocks?.length) return message.reasoning_content ? [{ reasoning_content: message.reasoning_content }] : [];
  return message.thinking_blocks.flatMap((block): ChunkChoice['delta'][] =>
    block.type === 'thinking'
      ? [{ reasoning_content: block.thinking }, { thinking_blocks: [{ type: 'thinking', thinking: '', signature: block.signature }] }]
      : [{ thinking_blocks: [block] }],
  );
}

/**
 * A stored chat completion as the stream a provider would have sent: per
 * choice the role, the text in word-sized pieces, each tool call whole, the
 * finish reason; then a usage chunk.
 */
export async function* replayChunks(response: ChatResponse): AsyncGenerator<ChatChunk> {
  const base = {
    id: response.id,
    object: 'chat.completion.chunk' as const,
    created: response.created,
    model: response.model,
    system_fingerprint: response.system_fingerprint ?? null,
  };
  for (const choice of response.choices) {
    const { message } = choice;
    yield { ...base, choices: [{ index: choice.index, delta: { role: 'assistant', content: message.content === null ? null : '' }, finish_reason: null }] };
    for (const delta of thinkingDeltas(message)) yield { ...base, choices: [{ index: choice.index, delta, finish_reason: null }] };
    for (const piece of (message.content ?? '').match(/\s*\S+\s*|\s+/g) ?? []) {
      yield { ...base, choices: [{ index: choice.index, delta: { content: piece }, finish_reason: null }] };
    }
    if (message.refusal) yield { ...base, choices: [{ index: choice.index, delta: { refusal: message.refusal }, finish_reason: null }] };
    const toolCalls = message.tool_calls ?? [];
    if (toolCalls.length > 0) {
      const deltas = toolCalls.map((call, index) => ({
        index,
        id: call.id,
        type: 'function' as const,
        function: { name: call.function.name, arguments: call.function.arguments },
      }));
      yield { ...base, choices: [{ index: choice.index, delta: { tool_calls: deltas }, finish_reason: null }] };
    }
    yield { ...base, choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason ?? 'stop' }] };
  }
  if (response.usage) yield { ...base, choices: [], usage: response.usage };
}
