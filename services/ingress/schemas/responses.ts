import type { ApiFamily } from '../../kit/api-errors.js';
import type { Schema } from './common.js';

/*
 * What the main routes answer, for the OpenAPI document (openapi.ts): each success in its API's shape (OpenAI's API
 * reference, Anthropic's for /v1/messages) and each error in its family's (kit/api-errors.ts). Only what every answer
 * carries is required, and other fields are allowed, as providers add their own (a chat answer's `reasoning_content`).
 * openapi-responses.test.ts validates real answers, from the official SDKs through the gateway, against these.
 */

const string: Schema = { type: 'string' };
const integer: Schema = { type: 'integer' };
const number: Schema = { type: 'number' };
const boolean: Schema = { type: 'boolean' };
const nullable = (type: string): Schema => ({ type: [type, 'null'] });
const oneOf = (...values: string[]): Schema => ({ type: 'string', enum: values });
const arrayOf = (items: Schema): Schema => ({ type: 'array', items });

/** An object whose listed properties are all required, unless `optional` names them; other properties pass. */
function object(properties: Record<string, Schema>, optional: string[] = []): Schema {
  return { type: 'object', required: Object.keys(properties).filter((name) => !optional.includes(name)), properties };
}

const toolCall = object({ id: string, type: oneOf('function'), function: object({ name: string, arguments: string }) });

const chatCompletion = object(
  {
    id: string,
    object: oneOf('chat.completion'),
    created: integer,
    model: string,
    choices: arrayOf(
      object({
        index: integer,
        message: object({ role: oneOf('assistant'), content: nullable('string'), refusal: nullable('string'), tool_calls: arrayOf(toolCall) }, [
          'refusal',
          'tool_calls',
        ]),
        finish_reason: oneOf('stop', 'length', 'tool_calls', 'content_filter', 'function_call'),
      }),
    ),
    usage: object({ prompt_tokens: integer, completion_tokens: integer, total_tokens: integer }),
  },
  ['usage'],
);

const completion = object(
  {
    id: string,
    object: oneOf('text_completion'),
    created: integer,
    model: string,
    choices: arrayOf(object({ index: integer, text: string, finish_reason: oneOf('stop', 'length', 'content_filter'), logprobs: nullable('object') })),
    usage: object({ prompt_tokens: integer, completion_tokens: integer, total_tokens: integer }),
  },
  ['usage'],
);

const embeddings = object({
  object: oneOf('list'),
  // A vector, or base64 of its float32s with encoding_format base64.
  data: arrayOf(object({ object: oneOf('embedding'), index: integer, embedding: { type: ['array', 'string'], items: number } })),
  model: string,
  usage: object({ prompt_tokens: integer, total_tokens: integer }),
});

const response = object(
  {
    id: string,
    object: oneOf('response'),
    created_at: number,
    status: oneOf('completed', 'failed', 'in_progress', 'cancelled', 'queued', 'incomplete'),
    model: string,
    output: arrayOf(object({ type: string })),
    error: nullable('object'),
    usage: { ...object({ input_tokens: integer, output_tokens: integer, total_tokens: integer }), type: ['object', 'null'] },
  },
  ['usage'],
);

const message = object({
  id: string,
  type: oneOf('message'),
  role: oneOf('assistant'),
  model: string,
  content: arrayOf(object({ type: string })),
  stop_reason: nullable('string'),
  stop_sequence: nullable('string'),
  usage: object({ input_tokens: integer, output_tokens: integer }),
});

const models = object({ object: oneOf('list'), data: arrayOf(object({ id: string, object: oneOf('model'), created: integer, owned_by: string })) });

const file = object({
  id: string,
  object: oneOf('file'),
  bytes: integer,
  created_at: integer,
  expires_at: nullable('integer'),
  filename: string,
  purpose: oneOf('batch', 'batch_output', 'batch_error'),
  status: oneOf('uploaded', 'processed', 'error'),
});

const batch = object({
  id: string,
  object: oneOf('batch'),
  endpoint: string,
  errors: nullable('object'),
  input_file_id: string,
  completion_window: string,
  status: oneOf('validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'),
  output_file_id: nullable('string'),
  error_file_id: nullable('string'),
  created_at: integer,
  in_progress_at: nullable('integer'),
  expires_at: nullable('integer'),
  finalizing_at: nullable('integer'),
  completed_at: nullable('integer'),
  failed_at: nullable('integer'),
  expired_at: nullable('integer'),
  cancelling_at: nullable('integer'),
  cancelled_at: nullable('integer'),
  request_counts: object({ total: integer, completed: integer, failed: integer }),
  metadata: nullable('object'),
});

/** A page of a list: its items, and the cursor to the next. */
const page = (item: Schema) =>
  object({ object: oneOf('list'), data: arrayOf(item), first_id: nullable('string'), last_id: nullable('string'), has_more: boolean });

/** Server-sent events, when the request asked for `stream`: the API's own events, each `data:` one JSON object. */
const EVENTS = { 'text/event-stream': { schema: string } };
const json = (schema: Schema, more = {}) => ({ description: 'Success.', content: { 'application/json': { schema }, ...more } });

/** The success answer of each described endpoint (the route's `config.endpoint`). */
const SUCCESSES: Record<string, object> = {
  'chat.completions': json(chatCompletion, EVENTS),
  completions: json(completion, EVENTS),
  embeddings: json(embeddings),
  responses: json(response, EVENTS),
  messages: json(message, EVENTS),
  models: json(models),
  'files.create': json(file),
  'files.list': json(page(file)),
  'files.retrieve': json(file),
  'files.delete': json(object({ id: string, object: oneOf('file'), deleted: boolean })),
  'files.content': { description: "The file's bytes.", content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
  'batches.create': json(batch),
  'batches.list': json(page(batch)),
  'batches.retrieve': json(batch),
  'batches.cancel': json(batch),
};

/** Each API family's error body, as kit/api-errors.ts writes it. */
const ERRORS: Record<ApiFamily, Schema> = {
  openai: object({ error: object({ message: string, type: string, param: nullable('string'), code: nullable('string') }) }),
  anthropic: object({ type: oneOf('error'), error: object({ type: string, message: string }) }),
  google: object({ error: object({ code: integer, message: string, status: string }) }),
  aws: object({ __type: string, message: string }),
};

/** A route's responses for the OpenAPI document, or undefined for a route not described here (fastify's placeholder stays). */
export function responsesOf(endpoint: string | undefined, family: ApiFamily): Record<string, object> | undefined {
  const success = endpoint === undefined ? undefined : SUCCESSES[endpoint];
  if (!success) return undefined;
  return { 200: success, default: { description: 'An error, in the API’s own shape.', content: { 'application/json': { schema: ERRORS[family] } } } };
}
