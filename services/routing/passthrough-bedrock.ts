import type { Usage } from '../gen/gateway/v1/common.js';
import { GatewayError } from '../kit/errors.js';
import { usageFromConverse, type ConverseUsage } from './providers/bedrock-mapping.js';
import { bedrockModelPath } from './providers/bedrock.js';
import { EMPTY_USAGE, usageFromOpenAI } from './providers/types.js';
import type { SseEvent } from './sse.js';

/**
 * Bedrock Runtime's API passed through (docs/routing.md, "Bedrock"): what differs from the other APIs. The path names
 * the model; Converse speaks one shape for every model, while invoke bodies are the model family's own, so only
 * Anthropic's (whose output cap and usage the gateway reads) are passed on; streams are AWS event-stream frames.
 */

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether a listed path is an invoke (the model family's own body), not a Converse call. */
export const bedrockInvokes = (listed: string) => listed.includes('/invoke');

/** Anthropic's models on Bedrock, by foundation model id or a (cross-region) inference profile's: `us.anthropic.…`. */
const ANTHROPIC_MODEL = /^(?:[a-z-]+\.)?anthropic\./;

/** The path and body for the model the chosen deployment serves: the path names it, escaped as the AWS SDK escapes it. */
export function bedrockForModel(listed: string, body: Json, model: string): { path: string; body: Json } {
  return { path: bedrockModelPath(model, listed.slice(listed.lastIndexOf('/') + 1)), body };
}

/** An invoke body the gateway cannot govern: another family's, whose output cap and usage it does not read. */
export function refuseBedrockInvoke(listed: string, model: string): void {
  if (!bedrockInvokes(listed) || ANTHROPIC_MODEL.test(model)) return;
  throw new GatewayError(
    'invalid_request',
    `The gateway passes Bedrock's invoke through for Anthropic models only (their max_tokens caps the output and their usage meters it); call ${model} through /bedrock/model/{model}/converse.`,
    { param: 'modelId' },
  );
}

/** Guardrails AWS applies and bills on its side (a Converse `guardrailConfig`, an invoke's guardrail headers), as the parameter naming them. */
export function bedrockUngoverned(headers: Record<string, string>, body: Json): { param: string; tool?: string } | undefined {
  if (body.guardrailConfig !== undefined && body.guardrailConfig !== null) return { param: 'guardrailConfig' };
  const header = Object.keys(headers).find((name) => name.startsWith('x-amzn-bedrock-guardrail'));
  return header ? { param: header } : undefined;
}

/** Lowers (or sets) the output cap: Converse's `inferenceConfig.maxTokens`, an Anthropic invoke body's `max_tokens`. */
export function capBedrockOutput(listed: string, body: Json, cap: number): void {
  const lower = (asked: unknown) => (typeof asked === 'number' && asked > 0 && asked < cap ? asked : cap);
  if (bedrockInvokes(listed)) body.max_tokens = lower(body.max_tokens);
  else
    body.inferenceConfig = {
      ...(isObject(body.inferenceConfig) ? body.inferenceConfig : {}),
      maxTokens: lower((body.inferenceConfig as Json | undefined)?.maxTokens),
    };
}

/** The ledger's usage of a whole Converse answer (its `usage`); an invoke's is Anthropic's, read by the caller. */
export function converseUsage(answer: Json | undefined): Usage {
  return isObject(answer?.usage) ? usageFromOpenAI(usageFromConverse(answer.usage as ConverseUsage)) : EMPTY_USAGE;
}

/**
 * One event of a Bedrock stream: an exception member's message; ConverseStream's usage (`metadata`) and end
 * (`messageStop`); or, in an invoke stream, the model's own event a `chunk` carries base64-encoded in `bytes`.
 */
export function readBedrockEvent(event: SseEvent): { failure?: string; complete?: boolean; usage?: Usage; anthropic?: Json } {
  const data = parsed(event.data);
  if (event.event.endsWith('Exception')) return { failure: typeof data?.message === 'string' ? data.message : event.event };
  if (event.event === 'messageStop') return { complete: true };
  if (event.event === 'metadata') return { usage: converseUsage(data) };
  if (event.event === 'chunk' && typeof data?.bytes === 'string') return { anthropic: parsed(Buffer.from(data.bytes, 'base64').toString('utf8')) };
  return {};
}

function parsed(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
