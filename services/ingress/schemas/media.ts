import { count, type Fragments, type Schema, string } from './common.js';

/*
 * The bodies of the APIs billed by unit: images, rerank and audio. Their billing fields (n, size, quality)
 * get the API's types, so what governance reserves and routing bills is read from checked values.
 */

/** Most images one request may ask for: OpenAI's limit for dall-e-2, the most any of its image models allows. */
const MAX_IMAGES = 10;

/**
 * OpenAI's /v1/images/generations (https://platform.openai.com/docs/api-reference/images/create). The model is
 * required here, though OpenAI defaults it: the gateway routes and allows by it. Streamed partial images (stream)
 * are not served yet: refused, rather than answered whole to a client that waits for events.
 */
export function imagesSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model', 'prompt'],
    properties: {
      model: f.model,
      prompt: { type: 'string', minLength: 1, maxLength: 32_000 },
      n: count(1, MAX_IMAGES),
      size: { type: ['string', 'null'], pattern: '^(auto|[0-9]{2,5}x[0-9]{2,5})$', description: 'auto or WIDTHxHEIGHT, e.g. 1024x1024' },
      quality: { enum: ['standard', 'hd', 'low', 'medium', 'high', 'auto', null] },
      response_format: { enum: ['url', 'b64_json', null] },
      style: { enum: ['vivid', 'natural', null] },
      stream: { enum: [false, null], description: 'false: streamed image generation is not served by the gateway' },
      user: f.name,
    },
  };
}

const IMAGE_SIZE = { type: 'string', pattern: '^(auto|[0-9]{2,5}x[0-9]{2,5})$', description: 'auto or WIDTHxHEIGHT, e.g. 1024x1024' };

/**
 * The form fields of OpenAI's /v1/images/edits (https://platform.openai.com/docs/api-reference/images/createEdit), as
 * uploads.ts reads them (numbers parsed); the images and the mask are checked there. No other field is taken: each
 * would reach the provider as text. Streamed partial images (stream) are not served, as for generations.
 */
export function imageEditSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model', 'prompt'],
    additionalProperties: false,
    properties: {
      model: f.model,
      prompt: { type: 'string', minLength: 1, maxLength: 32_000 },
      n: count(1, MAX_IMAGES),
      size: IMAGE_SIZE,
      quality: { enum: ['standard', 'low', 'medium', 'high', 'auto'] },
      response_format: { enum: ['url', 'b64_json'] },
      background: { enum: ['transparent', 'opaque', 'auto'] },
      input_fidelity: { enum: ['high', 'low'] },
      output_format: { enum: ['png', 'jpeg', 'webp'] },
      output_compression: { type: 'integer', minimum: 0, maximum: 100 },
      stream: { enum: ['false'], description: 'false: streamed image edits are not served by the gateway' },
      user: f.name,
    },
  };
}

/** The form fields of OpenAI's /v1/images/variations (https://platform.openai.com/docs/api-reference/images/createVariation): dall-e-2's. */
export function imageVariationSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model'],
    additionalProperties: false,
    properties: { model: f.model, n: count(1, MAX_IMAGES), size: IMAGE_SIZE, response_format: { enum: ['url', 'b64_json'] }, user: f.name },
  };
}

/**
 * Reranking in Cohere's shape (https://docs.cohere.com/v2/reference/rerank), which vLLM's /rerank takes too: a
 * query and the documents to rank as strings, at most maxInputs of them.
 */
export function rerankSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model', 'query', 'documents'],
    properties: {
      model: f.model,
      query: { type: 'string', minLength: 1 },
      documents: { type: 'array', minItems: 1, maxItems: f.limits.maxInputs, items: string, description: 'an array of strings' },
      top_n: count(1, f.limits.maxInputs),
      max_tokens_per_doc: count(1),
      return_documents: { type: ['boolean', 'null'] },
    },
  };
}

/**
 * OpenAI's /v1/audio/speech (https://platform.openai.com/docs/api-reference/audio/createSpeech), billed per character
 * of `input`; with stream_format "sse", answered as OpenAI's speech.audio.delta and speech.audio.done events.
 */
export function speechSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model', 'input', 'voice'],
    properties: {
      model: f.model,
      input: { type: 'string', minLength: 1, maxLength: 4096 },
      voice: { type: 'string', minLength: 1, maxLength: 64 },
      instructions: { type: 'string', maxLength: 4096 },
      response_format: { enum: ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm', null] },
      speed: { type: ['number', 'null'], minimum: 0.25, maximum: 4 },
      stream_format: { enum: ['audio', 'sse', null] },
    },
  };
}

/**
 * The form fields of OpenAI's /v1/audio/transcriptions, or with `translation` of /v1/audio/translations
 * (https://platform.openai.com/docs/api-reference/audio), as audio.ts reads them from multipart (numbers parsed,
 * `name[]` fields as lists); the file is checked there. No other field is taken: each would reach the provider as
 * text. With `stream` "true" (transcriptions only) the answer is OpenAI's transcript.text.delta and .done events.
 */
export function transcriptionSchema(f: Fragments, translation: boolean): Schema {
  const common = {
    model: f.model,
    prompt: { type: 'string', maxLength: 32_000 },
    response_format: { enum: ['json', 'text', 'srt', 'verbose_json', 'vtt'] },
    temperature: { type: 'number', minimum: 0, maximum: 1 },
  };
  const only = {
    language: { type: 'string', pattern: '^[a-z]{2,3}(-[A-Za-z]{2,4})?$', description: 'ISO-639-1 code, e.g. en' },
    timestamp_granularities: { type: 'array', maxItems: 2, items: { enum: ['word', 'segment'] } },
    include: { type: 'array', maxItems: 1, items: { enum: ['logprobs'] } },
    chunking_strategy: { enum: ['auto'] },
    stream: { enum: ['true', 'false'] },
  };
  return { type: 'object', required: ['model'], additionalProperties: false, properties: translation ? common : { ...common, ...only } };
}
