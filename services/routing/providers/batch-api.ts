import { FormData } from 'undici';
import { GatewayError } from '../../kit/errors.js';
import type { RawAnswer } from './types.js';

/**
 * A provider's own batch API, as routing's provider-native batches use it (routing/provider-batches.ts): requests in
 * and results out in OpenAI's shapes, whatever the provider speaks. Calls use the provider's first credential, so a
 * batch is read with the key that made it.
 */
export interface BatchApi {
  /** The gateway endpoints whose batches the provider takes, e.g. "/v1/chat/completions". */
  readonly endpoints: ReadonlySet<string>;
  /** Creates the provider's batch of the lines (each body in OpenAI's shape, its model the provider's); its id and status. */
  create(endpoint: string, lines: BatchRequestLine[], gatewayBatchId: string): Promise<{ id: string; status: BatchStatus }>;
  status(id: string): Promise<BatchStatus>;
  cancel(id: string): Promise<void>;
  /** The results of a batch that ended, in OpenAI's batch line format, each body in OpenAI's shape. */
  results(id: string): Promise<BatchResultLine[]>;
}

/** A provider batch's status in OpenAI's words; the last four are final. */
export type BatchStatus = 'validating' | 'in_progress' | 'finalizing' | 'cancelling' | 'completed' | 'failed' | 'expired' | 'cancelled';

export const ENDED_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'expired', 'cancelled']);

export interface BatchRequestLine {
  customId: string;
  body: Record<string, unknown>;
}

/** One line of OpenAI's batch output or error file (https://platform.openai.com/docs/api-reference/batch/request-output). */
export interface BatchResultLine {
  custom_id: string;
  response: { status_code: number; body: unknown } | null;
  error: { code?: string; message?: string } | null;
}

/** One call to the provider: a GET, a JSON POST, or a file uploaded as a form; the answer as sent. */
export type BatchCall = (method: 'GET' | 'POST', path: string, body?: Record<string, unknown> | FormData) => Promise<RawAnswer>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export async function jsonOf(answer: Promise<RawAnswer>, provider: string): Promise<Record<string, unknown>> {
  const parsed: unknown = JSON.parse((await answer).bytes.toString('utf8'));
  if (!isObject(parsed)) throw new GatewayError('upstream_error', `The provider ${provider}'s batch API answered with something other than an object.`);
  return parsed;
}

/** JSON Lines, as batch results come. */
export function jsonLines<T>(bytes: Buffer): T[] {
  return bytes
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T);
}

/** OpenAI's Files and Batch APIs (https://platform.openai.com/docs/api-reference/batch): the lines uploaded as a file. */
export function openAIBatchApi(provider: string, call: BatchCall): BatchApi {
  const batchPath = (id: string) => `/v1/batches/${encodeURIComponent(id)}`;
  const file = async (id: unknown) =>
    typeof id === 'string' && id ? jsonLines<BatchResultLine>((await call('GET', `/v1/files/${encodeURIComponent(id)}/content`)).bytes) : [];
  return {
    endpoints: new Set(['/v1/chat/completions', '/v1/embeddings']),
    async create(endpoint, lines, gatewayBatchId) {
      const input = lines.map((line) => JSON.stringify({ custom_id: line.customId, method: 'POST', url: endpoint, body: line.body }));
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([`${input.join('\n')}\n`], { type: 'application/jsonl' }), `${gatewayBatchId}.jsonl`);
      const uploaded = await jsonOf(call('POST', '/v1/files', form), provider);
      const body = { input_file_id: uploaded.id, endpoint, completion_window: '24h', metadata: { gateway_batch_id: gatewayBatchId } };
      const created = await jsonOf(call('POST', '/v1/batches', body), provider);
      return { id: String(created.id), status: created.status as BatchStatus };
    },
    async status(id) {
      return (await jsonOf(call('GET', batchPath(id)), provider)).status as BatchStatus;
    },
    async cancel(id) {
      await call('POST', `${batchPath(id)}/cancel`);
    },
    async results(id) {
      const batch = await jsonOf(call('GET', batchPath(id)), provider);
      return [...(await file(batch.output_file_id)), ...(await file(batch.error_file_id))];
    },
  };
}
