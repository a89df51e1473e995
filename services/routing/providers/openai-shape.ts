import type { ChatChunk, ChatResponse, EmbeddingsResponse } from '../canonical.js';
import { MalformedAnswer } from './http.js';

/**
 * OpenAI-compatible answers go on to the rest of routing as they came (they are
 * already its canonical shape), so they are checked here for what routing reads
 * from them, as the API reference documents it
 * (https://platform.openai.com/docs/api-reference/chat/object): an answer
 * without it fails as the provider's fault, not later as a TypeError.
 */

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const absent = (value: unknown) => value === undefined || value === null;

function object(value: unknown, what: string): Fields {
  if (!isObject(value)) throw new MalformedAnswer(`${what} is not an object`);
  return value;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new MalformedAnswer(`${what} is not an array`);
  return value;
}

function optionalString(value: unknown, what: string): void {
  if (!absent(value) && typeof value !== 'string') throw new MalformedAnswer(`${what} is not a string`);
}

function optionalObject(value: unknown, what: string): void {
  if (!absent(value)) object(value, what);
}

/** Tool calls of a message (each with its function), or of a delta (where a piece may leave the function out). */
function toolCalls(value: unknown, what: string, whole: boolean): void {
  if (absent(value)) return;
  list(value, what).forEach((raw, i) => {
    const call = object(raw, `${what}[${i}]`);
    if (absent(call.function) && !whole) return;
    const fn = object(call.function, `${what}[${i}].function`);
    optionalString(fn.name, `${what}[${i}].function.name`);
    optionalString(fn.arguments, `${what}[${i}].function.arguments`);
  });
}

/** The text of each message, its tool calls and refusal, and the usage. */
export function chatCompletion(body: unknown): ChatResponse {
  const answer = object(body, 'the chat completion');
  list(answer.choices, 'choices').forEach((raw, i) => {
    const message = object(object(raw, `choices[${i}]`).message, `choices[${i}].message`);
    optionalString(message.content, `choices[${i}].message.content`);
    optionalString(message.refusal, `choices[${i}].message.refusal`);
    toolCalls(message.tool_calls, `choices[${i}].message.tool_calls`, true);
  });
  optionalObject(answer.usage, 'usage');
  return answer as ChatResponse;
}

/** A streamed chunk's deltas (a usage-only chunk has no choices) and its usage. */
export function chatChunk(body: Fields): ChatChunk {
  list(body.choices, 'choices').forEach((raw, i) => {
    const choice = object(raw, `choices[${i}]`);
    // Azure's asynchronous content filter sends choices holding only filter results.
    if (absent(choice.delta)) choice.delta = {};
    const delta = object(choice.delta, `choices[${i}].delta`);
    optionalString(delta.content, `choices[${i}].delta.content`);
    optionalString(delta.refusal, `choices[${i}].delta.refusal`);
    toolCalls(delta.tool_calls, `choices[${i}].delta.tool_calls`, false);
  });
  optionalObject(body.usage, 'usage');
  return body as ChatChunk;
}

/** A legacy text_completion (or one of its chunks): choices with their text, and the usage. */
export function textCompletion(body: unknown): Fields {
  const answer = object(body, 'the text completion');
  list(answer.choices, 'choices').forEach((raw, i) => optionalString(object(raw, `choices[${i}]`).text, `choices[${i}].text`));
  optionalObject(answer.usage, 'usage');
  return answer;
}

/** One embedding per input, as floats or base64. */
export function embeddingsList(body: unknown): EmbeddingsResponse {
  const answer = object(body, 'the embeddings list');
  list(answer.data, 'data').forEach((raw, i) => {
    const embedding = object(raw, `data[${i}]`).embedding;
    if (!Array.isArray(embedding) && typeof embedding !== 'string') throw new MalformedAnswer(`data[${i}].embedding is neither an array nor base64`);
  });
  optionalObject(answer.usage, 'usage');
  return answer as unknown as EmbeddingsResponse;
}

/** Images made, each as b64_json or a url (https://platform.openai.com/docs/api-reference/images/object). */
export function imagesList(body: unknown): Fields {
  const answer = object(body, 'the images answer');
  list(answer.data, 'data').forEach((raw, i) => {
    const image = object(raw, `data[${i}]`);
    if (typeof image.b64_json !== 'string' && typeof image.url !== 'string') throw new MalformedAnswer(`data[${i}] has neither b64_json nor url`);
  });
  optionalString(answer.size, 'size');
  optionalString(answer.quality, 'quality');
  return answer;
}

/** One result per input, each with its flag and categories (https://platform.openai.com/docs/api-reference/moderations/object). */
export function moderationList(body: unknown): Fields {
  const answer = object(body, 'the moderation');
  list(answer.results, 'results').forEach((raw, i) => {
    const result = object(raw, `results[${i}]`);
    if (typeof result.flagged !== 'boolean') throw new MalformedAnswer(`results[${i}].flagged is not a boolean`);
    object(result.categories, `results[${i}].categories`);
  });
  return answer;
}
