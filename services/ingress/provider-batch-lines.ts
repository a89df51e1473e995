import type { RequestContext } from '../gen/gateway/v1/common.js';
import type { BatchAdmission, BatchLineResult, BatchSettlement, BatchWorkReply, BatchWorkRequest } from '../gen/gateway/v1/routing.js';
import { errorBody } from '../kit/api-errors.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { newRequestId, newTraceId } from '../kit/ids.js';
import { measurePrompt } from '../kit/prompt-size.js';
import { choicesOf, maxOutputTokens, type PipelineDeps } from './pipeline.js';

/** The gateway's endpoint names (as its own routes record them) of the endpoints a provider's batch API takes. */
const ENDPOINT_NAMES: Record<string, string> = { '/v1/chat/completions': 'chat.completions', '/v1/embeddings': 'embeddings' };

type Work = (request: Omit<BatchWorkRequest, 'holder'>) => Promise<BatchWorkReply>;

/**
 * Ingress's part in a batch handed to a provider's own batch API (docs/routing.md#batches): governance admits every
 * line before any is handed off (the key's models, and each line's worst case reserved at the batch price against
 * its budgets, held until its result comes); a line refused is its error, recorded as a request refused. Once the
 * provider's batch ended, each line's result is recorded as a request of its own (its audit and usage row, tagged
 * `batch:<id>`, priced at the batch price) and its reservation settled with its usage. Routing remembers which lines
 * were recorded, so a restart records none twice.
 */
export class ProviderBatchLines {
  constructor(private readonly deps: PipelineDeps) {}

  async run(batch: BatchWorkReply, work: Work): Promise<void> {
    if (batch.lines.length) {
      const { results, admitted } = await this.admit(batch);
      const reply = await work({ action: 'hand_off', batchId: batch.batchId, maxLines: 0, results, admitted });
      await this.settle(batch, reply.settlements, work);
    } else {
      const reply = await work({ action: 'poll', batchId: batch.batchId, maxLines: 0, results: [], admitted: [] });
      if (reply.settlements.length) await this.settle(batch, reply.settlements, work);
    }
  }

  /** Every line asked of governance, as the batch's key; each refusal recorded and kept as its line's answer. */
  private async admit(batch: BatchWorkReply): Promise<{ results: BatchLineResult[]; admitted: BatchAdmission[] }> {
    const endpoint = ENDPOINT_NAMES[batch.endpoint] ?? batch.endpoint;
    const keyHash = Buffer.from(batch.keyHash);
    const tags = [`batch:${batch.batchId}`];
    const results: BatchLineResult[] = [];
    const admitted: BatchAdmission[] = [];
    for (const line of batch.lines) {
      const raw = Buffer.from(line.body);
      const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      const model = typeof body.model === 'string' ? body.model : '';
      const context: RequestContext = { requestId: newRequestId(), traceId: newTraceId(), actor: undefined, sourceAddress: '' };
      const prompt = measurePrompt(raw, body, this.deps.promptCounting.wanted(keyHash));
      try {
        const grant = await this.deps.authorizations.authorize({
          context,
          keyHash,
          model,
          endpoint,
          promptBoundTokens: prompt.boundTokens,
          promptO200kTokens: prompt.o200kTokens,
          maxOutputTokens: maxOutputTokens(body),
          choices: choicesOf(body),
          billed: undefined,
          holder: '',
          batch: true,
        });
        admitted.push({
          line: line.line,
          requestId: context.requestId,
          reservationId: grant.reservationId,
          maxOutputTokens: grant.maxOutputTokens,
          actor: grant.actor,
        });
      } catch (err) {
        const error = asGatewayError(err);
        void this.deps.recorder.record(context, performance.now(), false, { endpoint, model, httpStatus: error.status, stream: false, error, tags });
        results.push({
          line: line.line,
          statusCode: error.status,
          requestId: context.requestId,
          body: Buffer.from(JSON.stringify(errorBody('openai', error))),
        });
      }
    }
    return { results, admitted };
  }

  /** Each result recorded as its line's request and its reservation settled with its usage; then routing is told. */
  private async settle(batch: BatchWorkReply, settlements: BatchSettlement[], work: Work): Promise<void> {
    const batchId = batch.batchId;
    for (const settlement of settlements) {
      const { admission, statusCode, usage, served, model } = settlement;
      const context: RequestContext = { requestId: admission!.requestId, traceId: newTraceId(), actor: admission!.actor, sourceAddress: '' };
      const answered = statusCode >= 200 && statusCode < 300;
      const error = answered
        ? undefined
        : new GatewayError('upstream_error', settlement.errorMessage || 'The provider answered this request with an error.', { status: statusCode || 502 });
      await this.deps.recorder.record(context, performance.now(), true, {
        endpoint: ENDPOINT_NAMES[batch.endpoint] ?? batch.endpoint,
        model,
        served: statusCode ? served : undefined,
        httpStatus: statusCode,
        usage,
        stream: false,
        error,
        errorCode: settlement.errorCode,
        tags: [`batch:${batchId}`],
      });
      this.deps.settlements.add({ context, reservationId: admission!.reservationId, usage, success: answered, served, cacheHit: false });
    }
    await work({ action: 'settled', batchId, maxLines: 0, results: [], admitted: settlements.map((s) => s.admission!) });
  }
}
