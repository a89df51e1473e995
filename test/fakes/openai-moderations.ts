import { randomBytes } from 'node:crypto';

/**
 * OpenAI's POST /v1/moderations, from its reference
 * (https://platform.openai.com/docs/api-reference/moderations): one result per
 * string of `input`, or one for an array of text and image_url parts; each with
 * `flagged`, every category's boolean and score, and the input types each
 * category was applied to (images only count for violence, self-harm and sexual).
 * A text is flagged for violence when it holds "kill", for harassment when it
 * holds "idiot"; an image for violence when its URL holds "gore".
 */
const CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;
const IMAGE_CATEGORIES = new Set(['self-harm', 'self-harm/intent', 'self-harm/instructions', 'sexual', 'violence', 'violence/graphic']);

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export function moderation(body: Record<string, unknown>): { status: number; body: unknown } {
  const input = body.input;
  const model = typeof body.model === 'string' ? body.model : 'omni-moderation-latest';
  const inputs: Part[][] =
    typeof input === 'string'
      ? [[{ type: 'text', text: input }]]
      : Array.isArray(input) && input.every((item) => typeof item === 'string')
        ? input.map((text: string) => [{ type: 'text', text }])
        : Array.isArray(input)
          ? [input as Part[]]
          : [];
  if (inputs.length === 0) {
    return { status: 400, body: { error: { message: "Invalid type for 'input'.", type: 'invalid_request_error', param: 'input', code: 'invalid_type' } } };
  }
  return { status: 200, body: { id: `modr-${randomBytes(8).toString('hex')}`, model, results: inputs.map(result) } };
}

function result(parts: Part[]) {
  const text = parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join(' ');
  const images = parts.flatMap((p) => (p.type === 'image_url' ? [p.image_url.url] : []));
  const hits = new Set<string>();
  if (/kill/i.test(text) || images.some((url) => url.includes('gore'))) hits.add('violence');
  if (/idiot/i.test(text)) hits.add('harassment');
  const types = (category: string) => [...(text ? ['text'] : []), ...(images.length && IMAGE_CATEGORIES.has(category) ? ['image'] : [])];
  const each = <T>(value: (category: string) => T) => Object.fromEntries(CATEGORIES.map((c) => [c, value(c)]));
  return {
    flagged: hits.size > 0,
    categories: each((c) => hits.has(c)),
    category_scores: each((c) => (hits.has(c) ? 0.91 : 0.0001)),
    category_applied_input_types: each(types),
  };
}
