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
