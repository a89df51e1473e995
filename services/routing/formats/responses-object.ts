import { randomUUID } from 'node:crypto';
import type { OpenAIUsage } from '../canonical.js';

/** The Response object of the Responses API, shared by whole and streamed answers. */

export const newId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '')}`;

export function responsesUsage(usage: OpenAIUsage | null | undefined) {
  return {
    input_tokens: usage?.prompt_tokens ?? 0,
    input_tokens_details: { cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: usage?.completion_tokens ?? 0,
    output_tokens_details: { reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage?.total_tokens ?? 0,
  };
}

/** The Response object's fields that echo the request. */
export interface ResponseShell {
  id: string;
  created_at: number;
  model: string;
  instructions: string | null;
  max_output_tokens: number | null;
  temperature: number | null;
  top_p: number | null;
  tools: unknown[];
  tool_choice: unknown;
  parallel_tool_calls: boolean;
  text: unknown;
  reasoning: { effort: string | null; summary: null };
  metadata: unknown;
  previous_response_id: string | null;
  /** Whether the gateway keeps this response (routing.responses.store and the request's `store`). */
  store: boolean;
}

export function responseObject(
  shell: ResponseShell,
  status: 'in_progress' | 'completed' | 'incomplete',
  output: unknown[],
  usage: OpenAIUsage | null | undefined,
) {
  return {
    ...shell,
    object: 'response',
    status,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    output,
    truncation: 'disabled',
    usage: status === 'in_progress' ? null : responsesUsage(usage),
  };
}
