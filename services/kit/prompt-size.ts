import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * A request's prompt in tokens, measured so that a budget's reservation never
 * counts fewer tokens than the provider will bill:
 *
 * - a bound for every tokenizer: the body's JSON bytes (a byte-level BPE or
 *   SentencePiece token is at least one byte of text, and JSON escapes only
 *   add bytes), with each image's data replaced by a fixed allowance;
 * - OpenAI's current models' exact count, with o200k_base (gpt-tokenizer,
 *   offline), when the key's requests are charged by tokens: tokenizing costs
 *   about 25 ns a byte, so it is done only where it saves a reservation.
 *
 * Both add what chat framing costs per message (role and separators).
 */

export interface PromptMeasure {
  boundTokens: number;
  /** 0 when not counted. */
  o200kTokens: number;
}

/** What an image may cost at most in the prompt (OpenAI's high detail is 1,445 tokens at most for gpt-4o; Anthropic's about 1,600). */
export const IMAGE_TOKENS = 2_000;
/** Role and separators per message, and the reply's priming: OpenAI counts 3 and 3; a little more covers other templates. */
const PER_MESSAGE_TOKENS = 5;
const PRIMING_TOKENS = 4;

/** Top-level fields that are not prompt: they say how to answer, not what. */
const NOT_PROMPT = new Set([
  'model',
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'service_tier',
  'max_tokens',
  'max_completion_tokens',
  'max_output_tokens',
]);
/** Content parts and blocks that are images, in every inbound API. */
const IMAGE_PARTS = new Set(['image_url', 'input_image', 'image']);
/** Parts that carry encoded data (PDFs, files, audio): counted by their bytes, never tokenized (megabytes of base64 would take long). */
const DATA_PARTS = new Set(['document', 'file', 'input_file', 'input_audio']);

interface Walk {
  images: number;
  /** Bytes of image data (data: URLs, base64 sources) in the body, which the image allowance replaces. */
  imageBytes: number;
  o200k: number;
  count: boolean;
}

export function measurePrompt(raw: Buffer, body: Record<string, unknown>, countExactly: boolean): PromptMeasure {
  const walk: Walk = { images: 0, imageBytes: 0, o200k: 0, count: countExactly };
  for (const key in body) if (!NOT_PROMPT.has(key)) visit(body[key], walk);
  const turns =
    [body.messages, body.input].reduce<number>((sum, list) => sum + (Array.isArray(list) ? list.length : 0), 0) + (body.system === undefined ? 0 : 1);
  const framing = turns * PER_MESSAGE_TOKENS + PRIMING_TOKENS + walk.images * IMAGE_TOKENS;
  return {
    boundTokens: Math.max(0, raw.length - walk.imageBytes) + framing,
    o200kTokens: countExactly ? walk.o200k + framing : 0,
  };
}

function visit(value: unknown, walk: Walk): void {
  if (typeof value === 'string') {
    if (walk.count) walk.o200k += countTokens(value);
  } else if (typeof value === 'number') {
    // Token arrays (embeddings, completions) are one token a number.
    walk.o200k += 1;
  } else if (Array.isArray(value)) {
    for (const item of value) visit(item, walk);
  } else if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (typeof record.type === 'string' && IMAGE_PARTS.has(record.type)) {
      walk.images += 1;
      walk.imageBytes += JSON.stringify(record).length;
      return;
    }
    if (typeof record.type === 'string' && DATA_PARTS.has(record.type)) {
      if (walk.count) walk.o200k += JSON.stringify(record).length;
      return;
    }
    for (const key in record) {
      // Keys are prompt too where they are a schema's property names (tools, response formats).
      if (walk.count) walk.o200k += countTokens(key);
      visit(record[key], walk);
    }
  }
}

/** Keys remembered: a key forgotten is counted exactly on its next request again, which is safe. */
const REMEMBERED_KEYS = 10_000;

/**
 * Which keys' requests are charged by tokens (a budget or a token limit), as
 * governance said in its last answer for each: only their prompts are worth
 * an exact count. A key not yet heard of is counted: the answer may need it.
 */
export class PromptCounting {
  private readonly charged = new Map<string, boolean>();

  wanted(keyHash: Buffer): boolean {
    return this.charged.get(keyHash.toString('base64')) ?? true;
  }

  learn(keyHash: Buffer, chargedByTokens: boolean): void {
    const id = keyHash.toString('base64');
    this.charged.delete(id);
    this.charged.set(id, chargedByTokens);
    if (this.charged.size > REMEMBERED_KEYS) this.charged.delete(this.charged.keys().next().value!);
  }
}
