import { contentText, type ChatMessage, type ChatRequest, type ContentPart, type FunctionTool, type ToolCall } from '../canonical.js';
import { ProviderError } from './types.js';
import { thinkingBudgetOf } from './thinking-budget.js';

/**
 * The Gemini generateContent wire format (AI Studio v1beta and Vertex AI v1
 * share it), as in https://ai.google.dev/api/generate-content, and the
 * translation of an OpenAI-shaped chat request into it. Responses are in
 * gemini-response.ts.
 */

export type JsonObject = Record<string, unknown>;

export interface GeminiPart {
  text?: string;
  /** Marks a thought summary (thinking models); never shown as content. */
  thought?: boolean;
  /** Opaque reasoning state; Gemini 3 requires it back on the function calls it made. */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args?: JsonObject; id?: string };
  functionResponse?: { name: string; response: JsonObject; id?: string };
}

export interface GeminiContent {
  role?: 'user' | 'model';
  parts: GeminiPart[];
}

export interface GenerationConfig {
  temperature?: number;
  topP?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  candidateCount?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseLogprobs?: boolean;
  logprobs?: number;
  responseMimeType?: string;
  responseSchema?: JsonObject;
  responseJsonSchema?: JsonObject;
  /** https://ai.google.dev/gemini-api/docs/thinking: a budget in tokens (0: off), and whether thought summaries come back. */
  thinkingConfig?: { thinkingBudget: number; includeThoughts?: boolean };
}

export interface GenerateContentRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: { text: string }[] };
  tools?: { functionDeclarations: { name: string; description?: string; parameters?: JsonObject }[] }[];
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } };
  generationConfig?: GenerationConfig;
}

/** Which GenerationConfig field carries an OpenAI json_schema response format. */
export type SchemaField = 'responseJsonSchema' | 'responseSchema';

export interface MappingOptions {
  provider: string;
  model: string;
  schemaField: SchemaField;
  /** Thought signatures Gemini attached to tool calls it made, by tool call id. */
  signatures: SignatureCache;
}

/**
 * Remembers the thoughtSignature of each function call Gemini returned, so the
 * signature can go back with the call when the client replays the
 * conversation (OpenAI's shape has no field for it). Bounded: the oldest
 * entries go first; a miss falls back to Google's documented bypass value.
 */
export class SignatureCache {
  private readonly entries = new Map<string, string>();
  constructor(private readonly max = 10_000) {}

  set(toolCallId: string, signature: string): void {
    this.entries.set(toolCallId, signature);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get(toolCallId: string): string | undefined {
    return this.entries.get(toolCallId);
  }
}

/** https://ai.google.dev/gemini-api/docs/thought-signatures: for calls without a signature of their own. */
const SKIP_SIGNATURE = 'skip_thought_signature_validator';
/** Models before Gemini 3 (and Gemma) do not validate signatures, so they get none they did not produce. */
const UNSIGNED_MODELS = /(^|\/)(gemini-(1|2)(\.|-)|gemma)/;

export function toGeminiRequest(request: ChatRequest, options: MappingOptions): GenerateContentRequest {
  const body: GenerateContentRequest = { contents: toContents(request.messages, options) };
  const system = request.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => contentText(m.content));
  if (system.length > 0) body.systemInstruction = { parts: system.map((text) => ({ text })) };
  const functions = (request.tools ?? []).filter((t): t is FunctionTool => t.type === 'function').map(toDeclaration);
  if (functions.length > 0) body.tools = [{ functionDeclarations: functions }];
  if (request.tool_choice !== undefined) body.toolConfig = { functionCallingConfig: toolChoice(request.tool_choice) };
  const config = generationConfig(request, options);
  if (Object.keys(config).length > 0) body.generationConfig = config;
  return body;
}

function toContents(messages: readonly ChatMessage[], options: MappingOptions): GeminiContent[] {
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();
  // Gemini wants turns to alternate; consecutive messages of one role become one turn.
  const push = (role: 'user' | 'model', parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        break; // systemInstruction
      case 'user':
        push('user', userParts(message.content, options.provider));
        break;
      case 'assistant': {
        const parts: GeminiPart[] = [];
        const text = contentText(message.content);
        if (text) parts.push({ text });
        for (const [i, call] of (message.tool_calls ?? []).entries()) {
          callNames.set(call.id, call.function.name);
          parts.push(functionCallPart(call, i === 0, options));
        }
        push('model', parts);
        break;
      }
      case 'tool': {
        const name = callNames.get(message.tool_call_id) ?? message.tool_call_id;
        push('user', [{ functionResponse: { name, response: toolResult(contentText(message.content)) } }]);
        break;
      }
    }
  }
  return contents;
}

function functionCallPart(call: ToolCall, first: boolean, options: MappingOptions): GeminiPart {
  const part: GeminiPart = { functionCall: { name: call.function.name, args: parseArgs(call.function.arguments, options.provider) } };
  // Gemini signs the first call of a parallel set; a replayed set needs it back there.
  const signature = options.signatures.get(call.id) ?? (first && !UNSIGNED_MODELS.test(options.model) ? SKIP_SIGNATURE : undefined);
  if (signature) part.thoughtSignature = signature;
  return part;
}

function parseArgs(text: string, provider: string): JsonObject {
  if (!text.trim()) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed)) return parsed;
  } catch {
    // falls through to the error below
  }
  throw new ProviderError('bad_request', provider, "A tool call's arguments must be a JSON object for Gemini.");
}

/** A JSON object result is passed as is (Gemini reads its fields); anything else is wrapped. */
function toolResult(text: string): JsonObject {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed)) return parsed;
  } catch {
    // plain text
  }
  return { content: text };
}

function userParts(content: string | ContentPart[], provider: string): GeminiPart[] {
  if (typeof content === 'string') return content ? [{ text: content }] : [];
  return content.map((part): GeminiPart => {
    if (part.type === 'text' && typeof part.text === 'string') return { text: part.text };
    if (part.type === 'image_url' && isObject(part.image_url) && typeof part.image_url.url === 'string') return mediaPart(part.image_url.url, provider);
    if (part.type === 'input_audio' && isObject(part.input_audio)) {
      const audio = part.input_audio as { data?: unknown; format?: unknown };
      return { inlineData: { mimeType: `audio/${audio.format === 'mp3' ? 'mp3' : 'wav'}`, data: String(audio.data ?? '') } };
    }
    if (part.type === 'file' && isObject(part.file) && typeof part.file.file_data === 'string') return mediaPart(part.file.file_data, provider);
    throw new ProviderError('bad_request', provider, `Provider ${provider} (Gemini) cannot take content parts of type "${part.type}".`);
  });
}

/** A data URL goes inline; an http(s) or gs:// URL is fetched by Google (fileData needs a MIME type, guessed from the extension). */
function mediaPart(url: string, provider: string): GeminiPart {
  const data = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url);
  if (data) {
    const base64 = /;base64$/i.test(data[2]!);
    const payload = data[3]!;
    return {
      inlineData: { mimeType: data[1] || 'application/octet-stream', data: base64 ? payload : Buffer.from(decodeURIComponent(payload)).toString('base64') },
    };
  }
  if (/^(https?|gs):\/\//i.test(url)) return { fileData: { mimeType: mimeFromUrl(url), fileUri: url } };
  throw new ProviderError('bad_request', provider, 'Image URLs must be data: URLs or http(s) URLs.');
}

const MIME_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
  txt: 'text/plain',
};

export function mimeFromUrl(url: string): string {
  const path = url.replace(/[?#].*$/, '');
  const extension = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return (extension && MIME_TYPES[extension]) ?? 'image/jpeg'; // image_url parts are images
}

function toDeclaration(tool: FunctionTool): { name: string; description?: string; parameters?: JsonObject } {
  const { name, description, parameters } = tool.function;
  const declaration: { name: string; description?: string; parameters?: JsonObject } = { name };
  if (description) declaration.description = description;
  // Gemini rejects an OBJECT schema with no properties; a function without parameters omits them.
  if (parameters && isObject(parameters.properties) && Object.keys(parameters.properties).length > 0) declaration.parameters = toOpenApiSchema(parameters);
  return declaration;
}

function toolChoice(choice: NonNullable<ChatRequest['tool_choice']>): { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } {
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  if (choice === 'auto') return { mode: 'AUTO' };
  return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
}

function generationConfig(request: ChatRequest, { schemaField, provider }: MappingOptions): GenerationConfig {
  const config: GenerationConfig = {};
  const set = <K extends keyof GenerationConfig>(key: K, value: GenerationConfig[K] | null | undefined) => {
    if (value !== undefined && value !== null) config[key] = value;
  };
  set('temperature', request.temperature);
  set('topP', request.top_p);
  set('maxOutputTokens', request.max_completion_tokens ?? request.max_tokens);
  set('stopSequences', typeof request.stop === 'string' ? [request.stop] : request.stop);
  set('candidateCount', request.n);
  set('seed', request.seed);
  set('presencePenalty', request.presence_penalty);
  set('frequencyPenalty', request.frequency_penalty);
  if (request.logprobs) config.responseLogprobs = true;
  // reasoning_effort as a budget; thought summaries are asked for, and answered as reasoning_content.
  const budget = thinkingBudgetOf(
    request.reasoning_effort,
    (message) => new ProviderError('bad_request', provider, `Provider ${provider} (Gemini) cannot take this request: ${message}`),
  );
  if (budget !== undefined) config.thinkingConfig = budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true };
  set('logprobs', request.logprobs ? request.top_logprobs : undefined);
  const format = request.response_format;
  if (format?.type === 'json_object') config.responseMimeType = 'application/json';
  if (format?.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    const schema = format.json_schema.schema;
    if (schema) {
      // responseJsonSchema takes JSON Schema as is; responseSchema (older models) only the OpenAPI subset.
      const { $schema: _ignored, ...rest } = schema;
      config[schemaField] = schemaField === 'responseJsonSchema' ? rest : toOpenApiSchema(schema);
    }
  }
  return config;
}

/** The keys Gemini's Schema object (an OpenAPI 3.0 subset) accepts; others, e.g. additionalProperties, $schema and strict, are rejected. */
const SCHEMA_KEYS = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'items',
  'minItems',
  'maxItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'minimum',
  'maximum',
]);

/**
 * A JSON Schema (as OpenAI tools carry it) reduced to Gemini's Schema: local
 * $refs inlined (to a fixed depth, since Schema has no references), oneOf read
 * as anyOf, allOf merged, const as a one-value enum, ["T", "null"] as nullable T.
 */
export function toOpenApiSchema(schema: JsonObject): JsonObject {
  const definitions = { ...(isObject(schema.definitions) ? schema.definitions : {}), ...(isObject(schema.$defs) ? schema.$defs : {}) };
  const convert = (node: JsonObject, depth: number): JsonObject => {
    if (typeof node.$ref === 'string') {
      const target = definitions[node.$ref.replace(/^#\/(\$defs|definitions)\//, '')];
      return isObject(target) && depth < 8 ? convert({ ...target, ...withoutRef(node) }, depth + 1) : { type: 'object' };
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === 'properties' && isObject(value)) {
        out.properties = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, isObject(child) ? convert(child, depth) : child]));
      } else if (key === 'items' && isObject(value)) out.items = convert(value, depth);
      else if ((key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) out.anyOf = value.filter(isObject).map((child) => convert(child, depth));
      else if (key === 'allOf' && Array.isArray(value)) Object.assign(out, ...value.filter(isObject).map((child) => convert(child, depth)));
      else if (key === 'const') out.enum = [String(value)];
      else if (key === 'type' && Array.isArray(value)) {
        const types = value.filter((t) => t !== 'null');
        if (types.length < value.length) out.nullable = true;
        if (types[0] !== undefined) out.type = types[0];
      } else if (SCHEMA_KEYS.has(key)) out[key] = value;
    }
    // Gemini enums are strings only.
    if (Array.isArray(out.enum)) {
      if (out.type === undefined || out.type === 'string') out.enum = out.enum.filter((v) => v !== null).map(String);
      else delete out.enum;
    }
    return out;
  };
  return convert(schema, 0);
}

function withoutRef(node: JsonObject): JsonObject {
  const { $ref: _ref, ...rest } = node;
  return rest;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
