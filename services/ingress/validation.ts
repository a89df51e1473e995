import type { FastifySchemaValidationError } from 'fastify';
import type { ApiFamily } from '../kit/api-errors.js';
import { storableText } from '../kit/db/storable.js';
import { GatewayError } from '../kit/errors.js';
import type { IngressLimits } from './config.js';
import { countTokensSchema, messagesSchema } from './schemas/anthropic.js';
import { fragments, type Schema } from './schemas/common.js';
import { imageEditSchema, imagesSchema, imageVariationSchema, rerankSchema, speechSchema, transcriptionSchema } from './schemas/media.js';
import { chatSchema, completionsSchema, embeddingsSchema, moderationsSchema, responsesSchema } from './schemas/openai.js';

/**
 * Every inbound API's body is checked against its schema before anything
 * else runs (the key included), so no value out of its API's types, ranges
 * or the configured limits reaches governance, caching, routing or a
 * provider. Errors name the field in the client's API style.
 */

/** The body schema of each model endpoint. */
export function bodySchemas(limits: IngressLimits): Record<string, Schema> {
  const f = fragments(limits);
  return {
    'chat.completions': chatSchema(f),
    completions: completionsSchema(f),
    embeddings: embeddingsSchema(f),
    responses: responsesSchema(f),
    messages: messagesSchema(f),
    'messages.count_tokens': countTokensSchema(f),
    moderations: moderationsSchema(f),
    'images.generations': imagesSchema(f),
    'images.edits': imageEditSchema(f),
    'images.variations': imageVariationSchema(f),
    rerank: rerankSchema(f),
    'audio.speech': speechSchema(f),
    'audio.transcriptions': transcriptionSchema(f, false),
    'audio.translations': transcriptionSchema(f, true),
  };
}

/**
 * No model is named with control characters or broken UTF-16 (they would only
 * fail further in: headers, the ledger), nor with "." or ".." path segments,
 * which a provider's URL would resolve past the name an allowlist matched.
 */
export function usableModelName(model: string): boolean {
  return !/[\u0000-\u001f\u007f]/.test(model) && storableText(model) === model && !model.split(/[/\\]/).some((part) => part === '.' || part === '..');
}

/** The validator's settings: values are checked, never coerced or filled in, since the body is forwarded as received. */
export const validatorOptions = {
  customOptions: {
    coerceTypes: false,
    useDefaults: false,
    removeAdditional: false,
    allErrors: false,
    verbose: true,
    formats: { 'model-name': usableModelName },
  },
};

/** The one error a client gets for a body that failed its schema: the most specific, in its API's words. */
export function validationError(errors: FastifySchemaValidationError[], family: ApiFamily): GatewayError {
  const error = mostSpecific(errors);
  if (!error) return new GatewayError('invalid_request', 'The request body is not valid.');
  const path = pathOf(error.instancePath);
  if (error.keyword === 'required') {
    const param = [...path, String(error.params.missingProperty)];
    const name = paramName(param, family);
    const message = family === 'anthropic' ? `${name}: Field required` : `Missing required parameter: '${name}'.`;
    return new GatewayError('invalid_request', message, { param: name });
  }
  const name = path.length ? paramName(path, family) : 'body';
  const problem = describe(error);
  const message = family === 'anthropic' ? `${name}: ${problem}` : `Invalid '${name}': ${problem}.`;
  return new GatewayError('invalid_request', message, { param: name });
}

/** The deepest error (an `if` only says its `then` failed, which the error before it says better). */
function mostSpecific(errors: FastifySchemaValidationError[]): FastifySchemaValidationError | undefined {
  let best: FastifySchemaValidationError | undefined;
  for (const error of errors) {
    if (error.keyword === 'if') continue;
    if (!best || depth(error) >= depth(best)) best = error;
  }
  return best;
}

const depth = (error: FastifySchemaValidationError) => (error.instancePath.match(/\//g) ?? []).length;

function pathOf(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `messages[0].content` for OpenAI clients, `messages.0.content` for Anthropic's. */
function paramName(path: string[], family: ApiFamily): string {
  if (family === 'anthropic') return path.join('.');
  return path.reduce((name, part) => (/^\d+$/.test(part) ? `${name}[${part}]` : name ? `${name}.${part}` : part), '');
}

function describe(error: FastifySchemaValidationError): string {
  const params = error.params as Record<string, unknown>;
  const description = (error as { parentSchema?: { description?: string } }).parentSchema?.description;
  switch (error.keyword) {
    case 'type':
    case 'anyOf':
    case 'oneOf':
      return `expected ${description ?? typeWords(params.type)}`;
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'minimum':
      return `must be at least ${String(params.limit)}`;
    case 'maximum':
      return `must be at most ${String(params.limit)}`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters long`;
    case 'minItems':
      return params.limit === 1 ? 'must not be an empty array' : `must hold at least ${String(params.limit)} items`;
    case 'maxItems':
      return `must hold at most ${String(params.limit)} items`;
    case 'format':
      return params.format === 'model-name'
        ? 'must not hold control characters, unpaired surrogates, or "." or ".." path segments'
        : `must be a valid ${String(params.format)}`;
    default:
      return error.message ?? 'is not valid';
  }
}

function typeWords(type: unknown): string {
  const types = (Array.isArray(type) ? type : String(type).split(',')).map((t) =>
    t === 'null' ? 'null' : /^[aeiou]/.test(String(t)) ? `an ${String(t)}` : `a ${String(t)}`,
  );
  return types.length > 1 ? `${types.slice(0, -1).join(', ')} or ${types.at(-1)}` : (types[0] ?? 'another type');
}
