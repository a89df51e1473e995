import type { ChatRequest } from '../canonical.js';
import { fromAnthropicMessage, toAnthropicRequest } from './anthropic-mapping.js';
import type { Message } from './anthropic-wire.js';
import { jsonLines, jsonOf, type BatchApi, type BatchCall, type BatchResultLine, type BatchStatus } from './batch-api.js';

/**
 * Anthropic's Message Batches API (https://docs.anthropic.com/en/api/creating-message-batches) behind the OpenAI
 * shapes of BatchApi: each chat line translated as the adapter translates a chat request, each succeeded result's
 * message translated back to a chat completion. Results are read from the batch's own results path on the
 * configured base URL, never from the results_url the answer names, so the key goes nowhere else.
 */

interface MessageBatch {
  id: string;
  processing_status: 'in_progress' | 'canceling' | 'ended';
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  cancel_initiated_at: string | null;
}

type AnthropicResult =
  | { type: 'succeeded'; message: Message }
  | { type: 'errored'; error: { type: 'error'; error: { type: string; message: string } } }
  | { type: 'canceled' }
  | { type: 'expired' };

/** The HTTP status an errored request would have had alone (https://docs.anthropic.com/en/api/errors). */
const ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

/** An ended batch in OpenAI's words: cancelled if a cancel was asked, expired if nothing ran before it expired, else completed. */
function statusOf(batch: MessageBatch): BatchStatus {
  if (batch.processing_status === 'in_progress') return 'in_progress';
  if (batch.processing_status === 'canceling') return 'cancelling';
  if (batch.cancel_initiated_at) return 'cancelled';
  const { succeeded, errored, expired } = batch.request_counts;
  return expired > 0 && succeeded + errored === 0 ? 'expired' : 'completed';
}

function resultLine(custom_id: string, result: AnthropicResult): BatchResultLine {
  switch (result.type) {
    case 'succeeded':
      return { custom_id, response: { status_code: 200, body: fromAnthropicMessage(result.message) }, error: null };
    case 'errored': {
      const { type, message } = result.error.error;
      return { custom_id, response: { status_code: ERROR_STATUS[type] ?? 500, body: { error: { message, type, param: null, code: type } } }, error: null };
    }
    default:
      return {
        custom_id,
        response: null,
        error: { code: result.type === 'canceled' ? 'batch_cancelled' : 'batch_expired', message: `Anthropic ${result.type} this request.` },
      };
  }
}

export function anthropicBatchApi(provider: string, defaultMaxTokens: number, call: BatchCall): BatchApi {
  const batchPath = (id: string) => `/v1/messages/batches/${encodeURIComponent(id)}`;
  const read = async (id: string) => (await jsonOf(call('GET', batchPath(id)), provider)) as unknown as MessageBatch;
  return {
    endpoints: new Set(['/v1/chat/completions']),
    async create(_endpoint, lines) {
      const requests = lines.map((line) => ({
        custom_id: line.customId,
        params: toAnthropicRequest(line.body as unknown as ChatRequest, provider, defaultMaxTokens),
      }));
      const created = (await jsonOf(call('POST', '/v1/messages/batches', { requests }), provider)) as unknown as MessageBatch;
      return { id: created.id, status: statusOf(created) };
    },
    async status(id) {
      return statusOf(await read(id));
    },
    async cancel(id) {
      await call('POST', `${batchPath(id)}/cancel`);
    },
    async results(id) {
      const lines = jsonLines<{ custom_id: string; result: AnthropicResult }>((await call('GET', `${batchPath(id)}/results`)).bytes);
      return lines.map((line) => resultLine(line.custom_id, line.result));
    },
  };
}
