import { GatewayError } from '../kit/errors.js';

export interface ChatBody {
  model: string;
  messages: unknown[];
  stream?: boolean;
  [field: string]: unknown;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

/**
 * Checks what the gateway itself relies on; everything else is left for the
 * provider to judge, so new OpenAI parameters pass through unchanged.
 */
export function validateChatBody(body: unknown): ChatBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
  }
  const chat = body as Record<string, unknown>;
  if (typeof chat.model !== 'string' || chat.model.length === 0) {
    throw invalid('You must provide a model parameter.', 'model');
  }
  if (!Array.isArray(chat.messages)) throw invalid("Missing required parameter: 'messages'.", 'messages');
  if (chat.messages.length === 0) throw invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.", 'messages');
  chat.messages.forEach((message: unknown, i) => {
    if (typeof message !== 'object' || message === null) throw invalid(`Invalid 'messages[${i}]': expected an object.`, `messages[${i}]`);
    const role = (message as { role?: unknown }).role;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalid(`Invalid 'messages[${i}].role': expected one of ${[...ROLES].join(', ')}.`, `messages[${i}].role`);
    }
  });
  if (chat.stream !== undefined && chat.stream !== null && typeof chat.stream !== 'boolean') {
    throw invalid("Invalid 'stream': expected a boolean.", 'stream');
  }
  return chat as ChatBody;
}
