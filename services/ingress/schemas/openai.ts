import {
  boolean,
  count,
  functionFields,
  MAX_TOKENS,
  nullableObject,
  nullableString,
  object,
  range,
  stop,
  string,
  text,
  toolChoice,
  tools,
  typed,
  when,
  type Fragments,
  type Schema,
} from './common.js';

/*
 * OpenAI's inbound APIs as JSON Schema, with the types and ranges of
 * https://platform.openai.com/docs/api-reference (chat, completions,
 * embeddings, responses).
 */

/** What chat, completions and responses share. */
function sampling(): Schema {
  return {
    temperature: range(0, 2),
    top_p: range(0, 1),
    presence_penalty: range(-2, 2),
    frequency_penalty: range(-2, 2),
    seed: { type: ['integer', 'null'] },
    stream: boolean,
    stream_options: { type: ['object', 'null'], properties: { include_usage: boolean } },
    metadata: { type: ['object', 'null'] },
    store: boolean,
  };
}

function contentPart(): Schema {
  return typed({
    text,
    image_url: {
      required: ['image_url'],
      properties: { image_url: { anyOf: [string, { type: 'object', required: ['url'], properties: { url: string } }], description: 'an object with a url' } },
    },
  });
}

function chatMessage(f: Fragments): Schema {
  const toolCall = {
    type: 'object',
    required: ['function'],
    properties: {
      id: f.name,
      type: string,
      function: { type: 'object', required: ['name'], properties: { name: f.requiredName, arguments: string } },
    },
  };
  return {
    type: 'object',
    required: ['role'],
    properties: {
      role: { enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
      content: { anyOf: [string, { type: 'array', items: contentPart() }, { type: 'null' }], description: 'a string, an array of content parts, or null' },
      name: f.name,
      tool_calls: { type: ['array', 'null'], maxItems: f.limits.maxTools, items: toolCall },
      tool_call_id: f.name,
      refusal: nullableString,
    },
    ...when('role', 'tool', { required: ['tool_call_id'] }),
  };
}

export function chatSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model', 'messages'],
    properties: {
      model: f.model,
      messages: { type: 'array', minItems: 1, maxItems: f.limits.maxMessages, items: chatMessage(f) },
      ...sampling(),
      max_tokens: count(1),
      max_completion_tokens: count(1),
      n: count(1, 128),
      stop,
      logprobs: boolean,
      top_logprobs: count(0, 20),
      logit_bias: { type: ['object', 'null'], additionalProperties: { type: 'number', minimum: -100, maximum: 100 } },
      response_format: { type: ['object', 'null'], required: ['type'], properties: { type: string } },
      tools: tools(f),
      tool_choice: toolChoice,
      parallel_tool_calls: boolean,
      functions: { type: ['array', 'null'], maxItems: f.limits.maxTools, items: { type: 'object', required: ['name'], properties: { name: f.requiredName } } },
      function_call: { anyOf: [string, object, { type: 'null' }], description: 'a string or an object' },
      user: f.name,
      reasoning_effort: nullableString,
      service_tier: nullableString,
    },
  };
}

export function completionsSchema(f: Fragments): Schema {
  const maxInputs = f.limits.maxInputs;
  return {
    type: 'object',
    required: ['model'],
    properties: {
      model: f.model,
      prompt: {
        anyOf: [
          string,
          { type: 'array', maxItems: maxInputs, items: string },
          { type: 'array', items: { type: 'integer' } },
          { type: 'array', maxItems: maxInputs, items: { type: 'array', items: { type: 'integer' } } },
          { type: 'null' },
        ],
        description: 'a string, an array of strings, or token arrays',
      },
      ...sampling(),
      max_tokens: count(1),
      n: count(1, 128),
      best_of: count(1, 128),
      logprobs: count(0, 5),
      echo: boolean,
      stop,
      suffix: nullableString,
      user: f.name,
    },
  };
}

export function embeddingsSchema(f: Fragments): Schema {
  const maxInputs = f.limits.maxInputs;
  return {
    type: 'object',
    required: ['model', 'input'],
    properties: {
      model: f.model,
      input: {
        anyOf: [
          string,
          { type: 'array', minItems: 1, maxItems: maxInputs, items: string },
          { type: 'array', minItems: 1, items: { type: 'integer' } },
          { type: 'array', minItems: 1, maxItems: maxInputs, items: { type: 'array', items: { type: 'integer' } } },
        ],
        description: 'a string, an array of strings, or token arrays',
      },
      encoding_format: { enum: ['float', 'base64'] },
      dimensions: count(1, 1_000_000),
      user: f.name,
    },
  };
}

/**
 * OpenAI's /v1/moderations (https://platform.openai.com/docs/api-reference/moderations/create): a string, strings, or
 * text and image_url parts. The model is required here, though OpenAI defaults it: the gateway routes and allows by it.
 */
export function moderationsSchema(f: Fragments): Schema {
  const part = typed({
    text: { required: ['text'], properties: { text: string } },
    image_url: { required: ['image_url'], properties: { image_url: { type: 'object', required: ['url'], properties: { url: string } } } },
  });
  const parts = { ...part, properties: { type: { enum: ['text', 'image_url'] } } };
  return {
    type: 'object',
    required: ['model', 'input'],
    properties: {
      model: f.model,
      // One type check, so that too many inputs is told as that rather than as the wrong type.
      input: {
        type: ['string', 'array'],
        minItems: 1,
        maxItems: f.limits.maxInputs,
        items: { anyOf: [string, parts], description: 'a string or a text or image_url part' },
        description: 'a string, an array of strings, or an array of text and image_url parts',
      },
    },
  };
}

function responsesItem(f: Fragments): Schema {
  const isMessage = { anyOf: [{ not: { required: ['type'] } }, { required: ['type'], properties: { type: { const: 'message' } } }] };
  return {
    type: 'object',
    properties: {
      type: string,
      role: { enum: ['user', 'assistant', 'system', 'developer'] },
      // null for a reasoning item without its text; a message's content is checked by routing.
      content: { anyOf: [string, { type: 'array', items: typed() }, { type: 'null' }], description: 'a string, an array of content parts, or null' },
      call_id: f.name,
      name: f.name,
      namespace: f.name,
      arguments: string,
      input: string,
    },
    allOf: [
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a promise
      { if: isMessage, then: { required: ['role'] } },
      when('type', 'function_call', { required: ['call_id', 'name'], properties: { name: f.requiredName } }),
      when('type', 'function_call_output', { required: ['call_id'] }),
      when('type', 'custom_tool_call', { required: ['call_id', 'name', 'input'], properties: { name: f.requiredName } }),
      when('type', 'custom_tool_call_output', { required: ['call_id'] }),
      when('type', 'local_shell_call_output', { required: ['id'] }),
      when('type', 'item_reference', { required: ['id'], properties: { id: string } }),
      when('type', 'local_shell_call', { required: ['action'], properties: { action: { type: 'object', required: ['command'] } } }),
    ],
  };
}

/** The Responses API's tools: function and custom tools need a name; a namespace holds such tools. Hosted tools are judged by routing. */
function responsesTools(f: Fragments): Schema {
  const fields = functionFields(f);
  // A Responses function tool may have null parameters (the SDK's type allows it); routing leaves them out.
  const named = { ...fields, properties: { ...(fields.properties as Schema), parameters: nullableObject } };
  const member = typed({ function: named, custom: named });
  return {
    type: ['array', 'null'],
    maxItems: f.limits.maxTools,
    items: typed({
      function: named,
      custom: named,
      namespace: { required: ['name', 'tools'], properties: { name: f.requiredName, tools: { type: 'array', maxItems: f.limits.maxTools, items: member } } },
    }),
  };
}

export function responsesSchema(f: Fragments): Schema {
  return {
    type: 'object',
    required: ['model'],
    properties: {
      model: f.model,
      input: {
        anyOf: [string, { type: 'array', maxItems: f.limits.maxMessages, items: responsesItem(f) }],
        description: 'a string or an array of input items',
      },
      instructions: nullableString,
      ...sampling(),
      max_output_tokens: count(1, MAX_TOKENS),
      tools: responsesTools(f),
      tool_choice: toolChoice,
      parallel_tool_calls: boolean,
      previous_response_id: f.name,
      text: { type: ['object', 'null'] },
      reasoning: { type: ['object', 'null'] },
      truncation: nullableString,
      include: { type: ['array', 'null'], items: string },
      user: f.name,
    },
  };
}
