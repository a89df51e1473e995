import type { Usage } from '../gen/gateway/v1/common.js';
import { toUsage, type UsageMetadata } from './providers/gemini-response.js';
import { EMPTY_USAGE, usageFromOpenAI } from './providers/types.js';

/**
 * Gemini's API passed through (docs/routing.md, "Provider-native passthrough"): what differs from the APIs that name
 * their model in the body. The path names the model; tools are objects keyed by kind; usage is `usageMetadata`.
 */

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The path and body for the model the chosen deployment serves: the path names it, and so does each request a batch embedding or a token count holds. */
export function geminiForModel(listed: string, body: Json, model: string): { path: string; body: Json } {
  const id = model.replace(/^models\//, '');
  const resource = `models/${id}`;
  const sent = { ...body };
  if (Array.isArray(sent.requests)) sent.requests = sent.requests.map((request: unknown) => (isObject(request) ? { ...request, model: resource } : request));
  if (isObject(sent.generateContentRequest)) sent.generateContentRequest = { ...sent.generateContentRequest, model: resource };
  return { path: listed.replace('{model}', encodeURIComponent(id)), body: sent };
}

/** Tools the client runs (the model only asks for them); every other kind (googleSearch, codeExecution, urlContext…) Google runs and bills. */
const CLIENT_RUN_TOOLS = new Set(['functionDeclarations', 'computerUse']);

/**
 * What a Gemini request asks of Google outside the gateway's controls, as the parameter naming it: a tool Google runs
 * itself, or `cachedContent`, a cache kept for the whole Google account rather than the key's tenant. A token count's
 * `generateContentRequest` is read the same way.
 */
export function geminiUngoverned(body: Json): { param: string; tool?: string } | undefined {
  for (const [at, request] of [
    ['', body],
    ['generateContentRequest.', body.generateContentRequest],
  ] as const) {
    if (!isObject(request)) continue;
    if (request.cachedContent !== undefined && request.cachedContent !== null) return { param: `${at}cachedContent` };
    const tools = Array.isArray(request.tools) ? request.tools : [];
    for (const [i, tool] of tools.entries()) {
      const kind = Object.keys(isObject(tool) ? tool : {}).find((key) => !CLIENT_RUN_TOOLS.has(key));
      if (kind) return { param: `${at}tools[${i}].${kind}`, tool: kind };
    }
  }
  return undefined;
}

/** Lowers (or sets) `generationConfig.maxOutputTokens` to the cap governance reserved for. */
export function capGeminiOutput(body: Json, cap: number): void {
  const config = isObject(body.generationConfig) ? { ...body.generationConfig } : {};
  const asked = config.maxOutputTokens;
  config.maxOutputTokens = typeof asked === 'number' && asked > 0 && asked < cap ? asked : cap;
  body.generationConfig = config;
}

/**
 * The ledger's usage of a whole answer: its `usageMetadata`; for embeddings, which Google answers without usage, the
 * request's text at four characters a token, as the Gemini adapter counts them; a token count is free.
 */
export function geminiUsage(listed: string, request: Json, answer: Json | undefined): Usage {
  if (isObject(answer?.usageMetadata)) return usageFromOpenAI(toUsage(answer.usageMetadata as UsageMetadata));
  if (!/:(embedContent|batchEmbedContents)$/.test(listed)) return EMPTY_USAGE;
  const contents = Array.isArray(request.requests) ? request.requests.map((r: unknown) => (isObject(r) ? r.content : undefined)) : [request.content];
  const tokens = contents.reduce((sum: number, content: unknown) => sum + Math.ceil(partsText(content).length / 4), 0);
  return usageFromOpenAI({ prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens });
}

function partsText(content: unknown): string {
  const parts = isObject(content) && Array.isArray(content.parts) ? content.parts : [];
  return parts.map((part: unknown) => (isObject(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

/** Reads a Gemini stream's events: each carries the usage so far; a finish reason (or a blocked prompt) completes it. */
export function readGeminiEvent(data: Json): { usage: UsageMetadata | undefined; complete: boolean } {
  const candidates = Array.isArray(data.candidates) ? data.candidates : [];
  const finished = candidates.some((candidate: unknown) => isObject(candidate) && typeof candidate.finishReason === 'string');
  const blocked = isObject(data.promptFeedback) && typeof data.promptFeedback.blockReason === 'string';
  return { usage: isObject(data.usageMetadata) ? (data.usageMetadata as UsageMetadata) : undefined, complete: finished || blocked };
}

export const geminiStreamUsage = (meta: UsageMetadata | undefined): Usage => (meta ? usageFromOpenAI(toUsage(meta)) : EMPTY_USAGE);
