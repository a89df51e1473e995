import { streamErrorEvent } from '../../kit/api-errors.js';
import { GatewayError } from '../../kit/errors.js';
import type { ChatChunk, ChatRequest } from '../canonical.js';
import type { InboundFormat, OutEvent } from './types.js';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

export function invalid(message: string, param?: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

export function requireModel(body: Record<string, unknown>): string {
  if (typeof body.model !== 'string' || body.model.length === 0) throw invalid('You must provide a model parameter.', 'model');
  return body.model;
}

export function optionalBoolean(body: Record<string, unknown>, field: string): void {
  if (body[field] !== undefined && body[field] !== null && typeof body[field] !== 'boolean') throw invalid(`Invalid '${field}': expected a boolean.`, field);
}

/**
 * Checks what routing relies on; everything else is left for the provider to
 * judge, so new OpenAI parameters pass through unchanged.
 */
export function validateChat(body: unknown): ChatRequest {
  const chat = requireObject(body);
  requireModel(chat);
  if (!Array.isArray(chat.messages)) throw invalid("Missing required parameter: 'messages'.", 'messages');
  if (chat.messages.length === 0) throw invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.", 'messages');
  chat.messages.forEach((message: unknown, i) => {
    if (typeof message !== 'object' || message === null) throw invalid(`Invalid 'messages[${i}]': expected an object.`, `messages[${i}]`);
    const role = (message as { role?: unknown }).role;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalid(`Invalid 'messages[${i}].role': expected one of ${[...ROLES].join(', ')}.`, `messages[${i}].role`);
    }
  });
  optionalBoolean(chat, 'stream');
  if (chat.tools !== undefined && !Array.isArray(chat.tools)) throw invalid("Invalid 'tools': expected an array.", 'tools');
  return chat as ChatRequest;
}

export function isUsageOnly(chunk: ChatChunk): boolean {
  return chunk.choices.length === 0 && chunk.usage != null;
}

/** A chunk with a finish reason ends its choice: from it on, the client holds a complete answer (OutEvent.final). */
export function hasFinish(chunk: ChatChunk): boolean {
  return chunk.choices.some((c) => c.finish_reason != null);
}

export const openAIErrorEvent = (error: GatewayError): OutEvent => streamErrorEvent('chat.completions', error);

/** OpenAI Chat Completions, the shape routing works in: translation is the identity. */
export const chatFormat: InboundFormat = {
  endpoint: 'chat.completions',
  parse(body) {
    const chat = validateChat(body);
    const wantsUsage = chat.stream_options?.include_usage === true;
    return {
      chat,
      response: (result) => result,
      async *stream(chunks) {
        for await (const chunk of chunks) {
          // Routing always asks providers for usage; a client that did not ask does not get the extra chunk.
          if (!wantsUsage && isUsageOnly(chunk)) continue;
          yield { data: JSON.stringify(chunk), final: hasFinish(chunk) };
        }
        yield { data: '[DONE]', final: true };
      },
    };
  },
  errorEvent: openAIErrorEvent,
};
