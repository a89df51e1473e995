/** What Gemini's generateContent refuses, as the fake Gemini checks it: the adapter must never send it. */

type Json = Record<string, unknown>;

/** Keys of the API's Schema object; anything else in function parameters is "Unknown name". */
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
const GENERATION_KEYS = new Set([
  'thinkingConfig',
  'temperature',
  'topP',
  'topK',
  'maxOutputTokens',
  'stopSequences',
  'candidateCount',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'thinkingConfig',
  'responseModalities',
]);

/** What the real API refuses and the adapter must therefore never send. */
export function validate(body: Json): string | undefined {
  const contents = body.contents as { role?: string; parts?: unknown[] }[] | undefined;
  if (!Array.isArray(contents) || contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  for (const [i, content] of contents.entries()) {
    if (content.role !== undefined && content.role !== 'user' && content.role !== 'model')
      return `Please use a valid role: user, model. (contents[${i}].role: ${String(content.role)})`;
    if (!Array.isArray(content.parts) || content.parts.length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`;
  }
  const tools = (body.tools ?? []) as { functionDeclarations?: { parameters?: Json }[] }[];
  for (const [t, tool] of tools.entries()) {
    for (const [f, declaration] of (tool.functionDeclarations ?? []).entries()) {
      const unknown = declaration.parameters && unknownSchemaKey(declaration.parameters, `tools[${t}].function_declarations[${f}].parameters`);
      if (unknown) return unknown;
    }
  }
  const config = (body.generationConfig ?? {}) as Json;
  const extra = Object.keys(config).find((key) => !GENERATION_KEYS.has(key));
  if (extra) return `Invalid JSON payload received. Unknown name "${extra}" at 'generation_config': Cannot find field.`;
  const thinking = thinkingConfigRefusal(config.thinkingConfig);
  if (thinking) return thinking;
  if (config.responseSchema && config.responseJsonSchema) return 'responseSchema and responseJsonSchema cannot both be set.';
  if ((config.responseSchema || config.responseJsonSchema) && config.responseMimeType !== 'application/json')
    return 'responseMimeType must be application/json when a response schema is set.';
  return undefined;
}

function unknownSchemaKey(schema: Json, at: string): string | undefined {
  for (const [key, value] of Object.entries(schema)) {
    if (!SCHEMA_KEYS.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${at}': Cannot find field.`;
    const children =
      key === 'properties' && value && typeof value === 'object'
        ? Object.entries(value as Json).map(([name, child]) => [`${at}.properties[${name}]`, child] as const)
        : key === 'items'
          ? [[`${at}.items`, value] as const]
          : key === 'anyOf' && Array.isArray(value)
            ? value.map((child, i) => [`${at}.any_of[${i}]`, child] as const)
            : [];
    for (const [path, child] of children) {
      const found = child && typeof child === 'object' ? unknownSchemaKey(child as Json, path) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** Gemini 2.5 Flash's thinking budgets (https://ai.google.dev/gemini-api/docs/thinking): -1 (dynamic), or 0 (off) to 24576. */
const MAX_THINKING_BUDGET = 24_576;
const THINKING_KEYS = new Set(['thinkingBudget', 'includeThoughts', 'thinkingLevel']);

/** What the real API refuses in generationConfig.thinkingConfig. */
function thinkingConfigRefusal(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const config = value as Json;
  const extra = Object.keys(config).find((key) => !THINKING_KEYS.has(key));
  if (extra) return `Invalid JSON payload received. Unknown name "${extra}" at 'generation_config.thinking_config': Cannot find field.`;
  const budget = config.thinkingBudget;
  if (budget !== undefined && (!Number.isInteger(budget) || (budget !== -1 && ((budget as number) < 0 || (budget as number) > MAX_THINKING_BUDGET))))
    return `The thinking budget ${String(budget)} is invalid. Please choose a value between 0 and ${MAX_THINKING_BUDGET}, or -1.`;
  if (config.includeThoughts !== undefined && typeof config.includeThoughts !== 'boolean')
    return `Invalid value at 'generation_config.thinking_config.include_thoughts' (TYPE_BOOL), ${JSON.stringify(config.includeThoughts)}`;
  return undefined;
}
