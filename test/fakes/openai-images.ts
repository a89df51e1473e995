import { readForm } from './openai-audio.js';
import { randomBytes } from 'node:crypto';

/**
 * OpenAI's POST /v1/images/generations, from its reference
 * (https://platform.openai.com/docs/api-reference/images/create): `data` with
 * one image per `n`, each as `url` (dall-e's default) or `b64_json`; dall-e-3
 * adds its revised_prompt and makes one image a request; gpt-image-1 always
 * answers b64_json and reports the quality and size it chose ("auto" becomes
 * medium, 1024x1024) with its token usage. A size or quality the model does
 * not offer is refused with 400 invalid_value naming the parameter.
 */
const SIZES: Record<string, string[]> = {
  'dall-e-2': ['256x256', '512x512', '1024x1024'],
  'dall-e-3': ['1024x1024', '1792x1024', '1024x1792'],
  'gpt-image-1': ['auto', '1024x1024', '1536x1024', '1024x1536'],
};
const QUALITIES: Record<string, string[]> = {
  'dall-e-2': ['standard'],
  'dall-e-3': ['standard', 'hd'],
  'gpt-image-1': ['auto', 'low', 'medium', 'high'],
};

/** A 1×1 transparent PNG, what every image of the fake is. */
export const FAKE_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const refused = (param: string, message: string) => ({
  status: 400,
  body: { error: { message, type: 'invalid_request_error', param, code: 'invalid_value' } },
});

export function images(body: Record<string, unknown>): { status: number; body: unknown } {
  const model = String(body.model ?? 'dall-e-2');
  const family = Object.keys(SIZES).find((name) => model === name || model.startsWith(`${name}-`)) ?? 'dall-e-2';
  const n = typeof body.n === 'number' ? body.n : 1;
  const size = typeof body.size === 'string' ? body.size : family === 'gpt-image-1' ? 'auto' : '1024x1024';
  const quality = typeof body.quality === 'string' ? body.quality : family === 'gpt-image-1' ? 'auto' : 'standard';
  if (!SIZES[family]!.includes(size))
    return refused('size', `Invalid value: '${size}'. Supported values are: ${SIZES[family]!.map((s) => `'${s}'`).join(', ')}.`);
  if (!QUALITIES[family]!.includes(quality))
    return refused('quality', `Invalid value: '${quality}'. Supported values are: ${QUALITIES[family]!.map((q) => `'${q}'`).join(', ')}.`);
  if (family === 'dall-e-3' && n !== 1) return refused('n', 'You must provide n=1 for this model.');
  if (family === 'gpt-image-1' && body.response_format !== undefined) {
    return {
      status: 400,
      body: { error: { message: "Unknown parameter: 'response_format'.", type: 'invalid_request_error', param: 'response_format', code: 'unknown_parameter' } },
    };
  }
  const b64 = family === 'gpt-image-1' || body.response_format === 'b64_json';
  const image = () => ({
    ...(b64 ? { b64_json: FAKE_PNG } : { url: `https://oaidalleapiprodscus.blob.core.windows.net/private/img-${randomBytes(6).toString('hex')}.png` }),
    ...(family === 'dall-e-3' ? { revised_prompt: `A detailed picture of ${String(body.prompt)}` } : {}),
  });
  const data = Array.from({ length: n }, image);
  const created = Math.floor(Date.now() / 1000);
  if (family !== 'gpt-image-1') return { status: 200, body: { created, data } };
  const reported = { quality: quality === 'auto' ? 'medium' : quality, size: size === 'auto' ? '1024x1024' : size };
  const usage = { input_tokens: 12, input_tokens_details: { text_tokens: 12, image_tokens: 0 }, output_tokens: 1056 * n, total_tokens: 12 + 1056 * n };
  return { status: 200, body: { created, data, background: 'opaque', output_format: 'png', ...reported, usage } };
}

/**
 * OpenAI's POST /v1/images/edits and /v1/images/variations (https://platform.openai.com/docs/api-reference/images),
 * multipart forms answered as generations are: an edit takes `prompt` and its images as `image` (or several as
 * `image[]`: gpt-image-1 takes up to 16, dall-e-2 one) with an optional PNG `mask`; a variation takes one `image`
 * and is dall-e-2's only. The form is recorded with each file by name, type and size.
 */
export const IMAGE_UPLOAD_APIS = new Set(['/v1/images/edits', '/v1/images/variations']);

const MAX_EDIT_IMAGES: Record<string, number> = { 'dall-e-2': 1, 'gpt-image-1': 16 };

export async function imageUploadCall(
  path: string,
  raw: Buffer,
  contentType: string,
): Promise<{ recorded: Record<string, unknown>; answer: { status: number; body: unknown } }> {
  const { fields, files } = await readForm(raw, contentType);
  const body: Record<string, unknown> = { ...fields, ...(fields.n !== undefined ? { n: Number(fields.n) } : {}) };
  const model = typeof fields.model === 'string' ? fields.model : 'dall-e-2';
  const family = Object.keys(SIZES).find((name) => model === name || model.startsWith(`${name}-`)) ?? 'dall-e-2';
  const images = files.filter((f) => f.field === 'image' || f.field === 'image[]');
  const answer = (): { status: number; body: unknown } => {
    if (images.length === 0) return missing('image');
    if (path === '/v1/images/variations') {
      if (family !== 'dall-e-2') return refused('model', `Invalid value: '${model}'. Value must be 'dall-e-2'.`);
      return images.length > 1 ? refused('image', 'Only one image may be given.') : generated(body, family);
    }
    if (typeof fields.prompt !== 'string') return missing('prompt');
    const most = MAX_EDIT_IMAGES[family];
    if (most === undefined) return refused('model', `Invalid value: '${model}'. Supported values are: 'dall-e-2' and 'gpt-image-1'.`);
    if (images.length > most) return refused('image', `Invalid value: at most ${most} image${most === 1 ? '' : 's'} may be given for ${model}.`);
    const mask = files.find((f) => f.field === 'mask');
    if (mask && mask.file.type !== 'image/png') return refused('mask', `Invalid mask: the mask must be a PNG image, not '${mask.file.type}'.`);
    return generated(body, family);
  };
  return { recorded: fields, answer: answer() };
}

const missing = (param: string) => ({
  status: 400,
  body: { error: { message: `Missing required parameter: '${param}'.`, type: 'invalid_request_error', param, code: 'missing_required_parameter' } },
});

/** An upload's answer, as a generation's for its fields (dall-e-2's default size for a variation or edit, 1024x1024). */
function generated(body: Record<string, unknown>, family: string) {
  return images({ ...body, model: family, prompt: body.prompt ?? 'a variation' });
}
