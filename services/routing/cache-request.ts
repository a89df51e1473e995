import { createHash } from 'node:crypto';
import { canonicalJson } from '../kit/canonical-json.js';

/** Fields that do not change the answer, so two requests differing only in them share an entry. */
const IGNORED_FIELDS = new Set(['stream', 'stream_options', 'user', 'metadata', 'store', 'service_tier']);

/** Fields holding the conversation: for semantic matches its last turn is compared by meaning, the rest exactly. */
const CONVERSATION_FIELDS = new Set(['messages', 'system', 'prompt', 'input', 'instructions']);

export interface CacheableRequest {
  /** Digest of the endpoint and every field that changes the answer. */
  key: string;
  model: string;
  body: Record<string, unknown>;
}

const digest = (endpoint: string, fields: Record<string, unknown>) =>
  createHash('sha256').update(endpoint).update('\n').update(canonicalJson(fields)).digest('hex');

/**
 * The request as the cache sees it, or why it may not be cached. Embeddings
 * are deterministic; generations are cached at temperature 0 only, unless
 * `cacheNonDeterministic`. Answers with logprobs are not cached (a hit
 * would not have them).
 */
export function cacheableRequest(endpoint: string, request: Record<string, unknown>, cacheNonDeterministic: boolean): CacheableRequest | string {
  if (typeof request.model !== 'string') return 'no model';
  if (endpoint !== 'embeddings') {
    if (!cacheNonDeterministic && request.temperature !== 0) return 'temperature is not 0';
    if (request.logprobs !== undefined && request.logprobs !== false && request.logprobs !== null) return 'logprobs requested';
  }
  return { key: digest(endpoint, answering(request)), model: request.model, body: request };
}

/** The fields of a body that can change the answer. */
function answering(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([k]) => !IGNORED_FIELDS.has(k)));
}

interface Turn {
  role: unknown;
  content?: unknown;
  [field: string]: unknown;
}

/** The text of message content, or undefined when it holds anything but text (images, audio, tool results). */
function textOf(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const parts: string[] = [];
  for (const part of content as { type?: unknown; text?: unknown }[]) {
    if ((part.type !== 'text' && part.type !== 'input_text') || typeof part.text !== 'string') return undefined;
    parts.push(part.text);
  }
  return parts.join('\n');
}

const isTurn = (value: unknown): value is Turn => typeof value === 'object' && value !== null && 'role' in value;

/** A conversation split into its last turn and everything the API puts before it: instructions and earlier turns. */
function splitConversation(endpoint: string, body: Record<string, unknown>): { before: unknown; last: unknown } | undefined {
  const lastOf = (turns: unknown) => (Array.isArray(turns) && turns.length > 0 ? { earlier: turns.slice(0, -1), last: turns.at(-1) } : undefined);
  switch (endpoint) {
    case 'chat.completions': {
      const split = lastOf(body.messages);
      return split && { before: { messages: split.earlier }, last: split.last };
    }
    case 'messages': {
      const split = lastOf(body.messages);
      return split && { before: { system: body.system, messages: split.earlier }, last: split.last };
    }
    case 'responses': {
      if (typeof body.input === 'string') return { before: { instructions: body.instructions }, last: { role: 'user', content: body.input } };
      const split = lastOf(body.input);
      return split && { before: { instructions: body.instructions, input: split.earlier }, last: split.last };
    }
    case 'completions':
      return typeof body.prompt === 'string' ? { before: {}, last: { role: 'user', content: body.prompt } } : undefined;
    default:
      return undefined;
  }
}

export interface SemanticQuestion {
  /** What is embedded and compared: the text of the last user turn. */
  text: string;
  /**
   * Digest of everything else that determines the answer, which a semantic hit must share exactly: the
   * endpoint, model, parameters and tools, the system prompt, every earlier turn and the last turn's other
   * fields, and the embedding model (vectors of two models cannot be compared).
   */
  bucket: string;
}

/**
 * What a semantic lookup compares: the last turn, when it is the user's and
 * all text, by meaning; everything before it exactly, in the bucket, so "yes"
 * after one conversation never matches "yes" after another. Undefined when
 * the request does not end with a user's text (an image, a tool result),
 * which words alone cannot stand for. A text longer than `maxChars` keeps its
 * end, where the question usually is.
 */
export function semanticQuestion(
  endpoint: string,
  body: Record<string, unknown>,
  options: { embeddingModel: string; maxChars: number },
): SemanticQuestion | undefined {
  const split = splitConversation(endpoint, body);
  if (!split || !isTurn(split.last) || split.last.role !== 'user') return undefined;
  const { content, ...turn } = split.last;
  const text = textOf(content);
  if (text === undefined || text.trim() === '') return undefined;
  const parameters = Object.fromEntries(Object.entries(answering(body)).filter(([k]) => !CONVERSATION_FIELDS.has(k)));
  // The last turn's other fields (a speaker's name) are compared exactly too.
  const bucket = digest(endpoint, { embeddingModel: options.embeddingModel, parameters, before: split.before, turn });
  return { text: text.length > options.maxChars ? text.slice(text.length - options.maxChars) : text, bucket };
}
