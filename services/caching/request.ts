import { createHash } from 'node:crypto';
import { canonicalJson } from '../kit/canonical-json.js';

/** Fields that do not change the answer, so two requests differing only in them share an entry. */
const IGNORED_FIELDS = new Set(['stream', 'stream_options', 'user', 'metadata', 'store', 'service_tier']);

/** Fields holding the conversation: compared by embedding for semantic matches, exactly otherwise. */
const CONVERSATION_FIELDS = new Set(['messages', 'system', 'prompt', 'input', 'instructions']);

export interface CacheableRequest {
  /** Digest of the endpoint and every field that changes the answer. */
  key: string;
  /** Digest of the endpoint and every such field but the conversation: what a semantic match must share exactly. */
  bucket: string;
  model: string;
  body: Record<string, unknown>;
}

const digest = (endpoint: string, fields: Record<string, unknown>) => createHash('sha256').update(endpoint).update('\n').update(canonicalJson(fields)).digest('hex');

/**
 * The request as the cache sees it, or why it may not be cached. Embeddings
 * are deterministic; generations are cached at temperature 0 only, unless
 * `cacheNonDeterministic`. Answers with logprobs are not cached (a replay
 * would not have them).
 */
export function cacheableRequest(endpoint: string, raw: Uint8Array, cacheNonDeterministic: boolean): CacheableRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not an object';
  const request = body as Record<string, unknown>;
  if (typeof request.model !== 'string') return 'no model';
  if (endpoint !== 'embeddings') {
    if (!cacheNonDeterministic && request.temperature !== 0) return 'temperature is not 0';
    if (request.logprobs !== undefined && request.logprobs !== false && request.logprobs !== null) return 'logprobs requested';
  }
  const relevant = Object.fromEntries(Object.entries(request).filter(([k]) => !IGNORED_FIELDS.has(k)));
  const parameters = Object.fromEntries(Object.entries(relevant).filter(([k]) => !CONVERSATION_FIELDS.has(k)));
  return { key: digest(endpoint, relevant), bucket: digest(endpoint, parameters), model: request.model, body: request };
}

export interface TextOptions {
  /** Earlier messages embedded along with the last user message. */
  historyMessages: number;
  /** Whether system (and developer) instructions are part of what is compared. */
  includeSystem: boolean;
  /** Longest text embedded; beyond it, the start is cut (the last message matters most). */
  maxChars: number;
}

interface Turn {
  role: string;
  content: unknown;
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

function turnsOf(endpoint: string, body: Record<string, unknown>): { turns: Turn[]; system: unknown } | undefined {
  switch (endpoint) {
    case 'chat.completions':
      return Array.isArray(body.messages) ? { turns: body.messages as Turn[], system: undefined } : undefined;
    case 'messages':
      return Array.isArray(body.messages) ? { turns: body.messages as Turn[], system: body.system } : undefined;
    case 'responses':
      if (typeof body.input === 'string') return { turns: [{ role: 'user', content: body.input }], system: body.instructions };
      return Array.isArray(body.input) ? { turns: body.input as Turn[], system: body.instructions } : undefined;
    case 'completions':
      return typeof body.prompt === 'string' ? { turns: [{ role: 'user', content: body.prompt }], system: undefined } : undefined;
    default:
      return undefined;
  }
}

/**
 * What a semantic lookup compares: the last user message, after up to
 * `historyMessages` earlier ones (as "role: text" lines) and, when
 * `includeSystem`, the system instructions. Undefined when the request has no
 * user text, or holds anything but text, which words alone cannot stand for.
 */
export function semanticText(endpoint: string, body: Record<string, unknown>, options: TextOptions): string | undefined {
  const found = turnsOf(endpoint, body);
  if (!found) return undefined;
  const isSystem = (turn: Turn) => turn.role === 'system' || turn.role === 'developer';
  const conversation = found.turns.filter((turn) => !isSystem(turn));
  const last = conversation.findLastIndex((turn) => turn.role === 'user');
  if (last < 0 || last !== conversation.length - 1) return undefined;
  const lines: string[] = [];
  if (options.includeSystem) {
    for (const instructions of [found.system, ...found.turns.filter(isSystem).map((t) => t.content)]) {
      if (instructions === undefined || instructions === null) continue;
      const text = textOf(instructions);
      if (text === undefined) return undefined;
      lines.push(`system: ${text}`);
    }
  }
  for (const turn of conversation.slice(Math.max(0, last - options.historyMessages), last)) {
    const text = textOf(turn.content);
    if (text === undefined) return undefined;
    lines.push(`${turn.role}: ${text}`);
  }
  const question = textOf(conversation[last]!.content);
  if (question === undefined || question.trim() === '') return undefined;
  lines.push(question);
  const text = lines.join('\n');
  return text.length > options.maxChars ? text.slice(text.length - options.maxChars) : text;
}
