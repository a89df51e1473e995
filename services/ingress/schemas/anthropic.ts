import { boolean, count, nullableString, object, range, string, text, typed, type Fragments, type Schema } from './common.js';

/*
 * Anthropic's Messages API as JSON Schema, with the types and ranges of
 * https://docs.anthropic.com/en/api/messages.
 */

function contentBlock(f: Fragments): Schema {
  return typed({
    text,
    tool_use: { required: ['id', 'name', 'input'], properties: { id: f.requiredName, name: f.requiredName, input: object } },
    tool_result: { required: ['tool_use_id'], properties: { tool_use_id: f.requiredName } },
  });
}

export function messagesSchema(f: Fragments): Schema {
  const blocks = { type: 'array', items: contentBlock(f) };
  return {
    type: 'object',
    required: ['model', 'max_tokens', 'messages'],
    properties: {
      model: f.model,
      max_tokens: { ...count(1), type: 'integer' },
      messages: {
        type: 'array',
        minItems: 1,
        maxItems: f.limits.maxMessages,
        items: {
          type: 'object',
          required: ['role', 'content'],
          properties: {
            role: { enum: ['user', 'assistant', 'system'] },
            content: { anyOf: [string, blocks], description: 'a string or an array of content blocks' },
          },
        },
      },
      system: { anyOf: [string, blocks, { type: 'null' }], description: 'a string or an array of text blocks' },
      temperature: range(0, 1),
      top_p: range(0, 1),
      top_k: count(0),
      stop_sequences: { type: ['array', 'null'], items: string },
      stream: boolean,
      tools: {
        type: ['array', 'null'],
        maxItems: f.limits.maxTools,
        items: { type: 'object', required: ['name'], properties: { name: f.requiredName, description: nullableString, input_schema: object } },
      },
      tool_choice: { type: ['object', 'null'], required: ['type'], properties: { type: string, name: f.name } },
      metadata: { type: ['object', 'null'], properties: { user_id: f.name } },
      thinking: { type: ['object', 'null'], required: ['type'], properties: { type: string, budget_tokens: count(0) } },
    },
  };
}

/**
 * Anthropic's /v1/messages/count_tokens: the prompt of a Messages request
 * (https://docs.anthropic.com/en/api/messages-count-tokens), no max_tokens.
 */
export function countTokensSchema(f: Fragments): Schema {
  const messages = messagesSchema(f) as { properties: Record<string, Schema> };
  const { model, messages: turns, system, tools, tool_choice, thinking } = messages.properties;
  return { type: 'object', required: ['model', 'messages'], properties: { model, messages: turns, system, tools, tool_choice, thinking } };
}
