import { Actor, Usage, type RequestContext } from '../gen/gateway/v1/common.js';
import type { BatchAdmission, BatchSettlement, BatchWorkReply, BatchWorkRequest } from '../gen/gateway/v1/routing.js';
import type { Database, Queryable } from '../kit/db/types.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import type { InputLine } from './batch-input.js';
import type { RoutingConfig } from './config.js';
import type { RoutingGuardrails } from './guardrails.js';
import type { LiveRouting } from './live.js';
import type { ModelGroup } from './router/deployment.js';
import { ENDED_STATUSES, type BatchApi, type BatchResultLine } from './providers/batch-api.js';
import { usageFromOpenAI } from './providers/types.js';

/**
 * Batches handed to a provider's own batch API (docs/routing.md#batches), through its adapter's BatchApi
 * (providers/batch-api.ts). Ingress admits every line and hands the admitted ones over; routing creates the
 * provider's batch of them (custom_id: the line's request id), polls it, forwards a cancel, and once it ended reads
 * its results into the lines, which ingress records and settles, one request each. The provider's credential stays
 * here, as for every call.
 */

/** Where a provider-native batch goes: the one deployment every line's model resolved to. */
export interface NativeTarget {
  provider: string;
  model: string;
  deployment: string;
}

/** How the batch ends in the gateway once its provider batch ended. */
export type Ending = 'completed' | 'cancelled' | 'expired' | 'failed';

interface NativeBatch {
  id: string;
  endpoint: string;
  status: string;
  native_provider: string;
  native_model: string;
  native_deployment: string;
  provider_batch_id: string | null;
  provider_status: string | null;
  provider_cancel_sent: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const admissionRow = (a: BatchAdmission) => ({
  line: a.line,
  request_id: a.requestId,
  reservation_id: a.reservationId,
  max_output_tokens: a.maxOutputTokens,
  actor: Actor.toJSON(a.actor ?? Actor.fromPartial({})),
});

/** The line's body as the provider takes it: its model renamed, and the output cap governance reserved set (chat only). */
function wireBody(body: Record<string, unknown>, model: string, cap: number): Record<string, unknown> {
  const wire: Record<string, unknown> = { ...body, model };
  if (cap <= 0 || !('messages' in body)) return wire;
  if (typeof wire.max_completion_tokens === 'number') wire.max_completion_tokens = Math.min(wire.max_completion_tokens, cap);
  else if (typeof wire.max_tokens === 'number') wire.max_tokens = Math.min(wire.max_tokens, cap);
  else wire.max_completion_tokens = cap;
  return wire;
}

export class ProviderBatches {
  constructor(
    private readonly db: Database,
    private readonly live: LiveRouting,
    private readonly guards: RoutingGuardrails,
    private readonly settings: RoutingConfig['batches'],
  ) {}

  /**
   * The one deployment every line goes to, when batches are handed to providers and it is of a provider whose batch
   * API routing speaks: each line's model a group of that one deployment, without fallbacks. Otherwise undefined,
   * and the gateway runs the lines itself; so it does for a key under guardrail policies, which the provider's
   * batch API would not apply (as passthrough is refused to such a key).
   */
  targetOf(endpoint: string, lines: InputLine[], context: RequestContext | undefined): NativeTarget | undefined {
    if (!this.settings.providerNative || this.guards.begin(context).underPolicies) return undefined;
    let target: NativeTarget | undefined;
    for (const { body } of lines) {
      if (typeof body.model !== 'string') return undefined;
      const group = this.groupOf(body.model);
      if (!group) return undefined;
      const fallbacks = group.fallbacks.length + group.contextWindowFallbacks.length + group.contentPolicyFallbacks.length;
      const deployment = group.members[0]?.deployment;
      if (group.members.length !== 1 || fallbacks > 0 || !deployment?.provider.batches?.endpoints.has(endpoint)) return undefined;
      if (target && target.deployment !== deployment.id) return undefined;
      target ??= deployment.served;
    }
    return target;
  }

  /** The group a model name stands for, or undefined when it names none (that line's own request will say so). */
  private groupOf(model: string): ModelGroup | undefined {
    try {
      return this.live.router.catalog.resolve(model);
    } catch {
      return undefined;
    }
  }

  private api(provider: string): BatchApi {
    const api = this.live.router.catalog.allProviders().find((p) => p.name === provider)?.batches;
    if (!api) throw new GatewayError('upstream_error', `The provider ${provider} of this batch is no longer configured with a batch API.`);
    return api;
  }

  private async batch(db: Queryable, id: string): Promise<NativeBatch> {
    const { rows } = await db.query<NativeBatch>('SELECT * FROM routing_batches WHERE id = $1', [id]);
    if (!rows[0]?.native_provider) throw new GatewayError('not_found', `No provider-native batch ${id}.`);
    return rows[0];
  }

  /**
   * Keeps the refusals and admissions of a batch's lines, and creates the provider's batch of the admitted ones.
   * A provider that refuses the upload or the batch makes each admitted line that error: settled at once, costing nothing.
   */
  async handOff(request: BatchWorkRequest, record: (db: Queryable) => Promise<void>): Promise<BatchSettlement[]> {
    const batch = await this.batch(this.db, request.batchId);
    if (batch.provider_batch_id) throw new GatewayError('invalid_request', `Batch ${batch.id} was handed to its provider already.`);
    await this.db.transaction(async (tx) => {
      await record(tx);
      await tx.query(
        `UPDATE routing_batch_lines l SET request_id = a.request_id, reservation_id = a.reservation_id, max_output_tokens = a.max_output_tokens, actor = a.actor
         FROM jsonb_to_recordset($2::jsonb) AS a(line int, request_id text, reservation_id text, max_output_tokens int, actor jsonb)
         WHERE l.batch_id = $1 AND l.line = a.line`,
        [batch.id, JSON.stringify(request.admitted.map(admissionRow))],
      );
    });
    if (!request.admitted.length) {
      await this.db.query("UPDATE routing_batches SET provider_status = 'completed' WHERE id = $1", [batch.id]);
      return [];
    }
    const { rows } = await this.db.query<{ request_id: string; body: Record<string, unknown>; max_output_tokens: number }>(
      'SELECT request_id, body, max_output_tokens FROM routing_batch_lines WHERE batch_id = $1 AND reservation_id IS NOT NULL ORDER BY line',
      [batch.id],
    );
    const lines = rows.map((row) => ({ customId: row.request_id, body: wireBody(row.body, batch.native_model, row.max_output_tokens) }));
    let created: { id: string; status: string };
    try {
      created = await this.api(batch.native_provider).create(batch.endpoint, lines, batch.id);
    } catch (err) {
      const error = asGatewayError(err);
      await this.db.query(
        `UPDATE routing_batch_lines SET status_code = $2, answer = $3::jsonb WHERE batch_id = $1 AND reservation_id IS NOT NULL AND status_code IS NULL`,
        [batch.id, error.status, JSON.stringify({ error: { message: error.message, type: error.type, code: error.code } })],
      );
      await this.db.query("UPDATE routing_batches SET provider_status = 'failed' WHERE id = $1", [batch.id]);
      return this.unsettled(batch);
    }
    // Outside the provider's refusals: once it has the batch, nothing here may make its lines errors.
    await this.db.query(
      'UPDATE routing_batches SET provider_batch_id = $2, provider_status = $3, next_poll_at = now() + make_interval(secs => $4) WHERE id = $1',
      [batch.id, created.id, created.status, this.settings.providerPollMs / 1000],
    );
    return [];
  }

  /**
   * Reads the provider's batch: a cancel asked of the gateway is forwarded once; a batch that ended has its results
   * read into the lines, whose settlements are answered until ingress has recorded them.
   */
  async poll(id: string): Promise<BatchSettlement[]> {
    const batch = await this.batch(this.db, id);
    if (!batch.provider_batch_id || (batch.provider_status && ENDED_STATUSES.has(batch.provider_status))) return this.unsettled(batch);
    const api = this.api(batch.native_provider);
    if (batch.status === 'cancelling' && !batch.provider_cancel_sent) {
      await api.cancel(batch.provider_batch_id);
      await this.db.query('UPDATE routing_batches SET provider_cancel_sent = true WHERE id = $1', [id]);
    }
    const status = await api.status(batch.provider_batch_id);
    if (ENDED_STATUSES.has(status)) {
      const results = await api.results(batch.provider_batch_id);
      await this.db.transaction(async (tx) => {
        for (const result of results) await this.recordResult(tx, id, result);
        await tx.query('UPDATE routing_batches SET provider_status = $2 WHERE id = $1', [id, status]);
      });
      return this.unsettled({ ...batch, provider_status: status });
    }
    await this.db.query('UPDATE routing_batches SET provider_status = $2, next_poll_at = now() + make_interval(secs => $3) WHERE id = $1', [
      id,
      status,
      this.settings.providerPollMs / 1000,
    ]);
    return [];
  }

  /** A provider's result for a line: its answer and usage; a line it never ran (expired, cancelled) stays unanswered. */
  private async recordResult(tx: Queryable, batchId: string, result: BatchResultLine): Promise<void> {
    const response = result.response;
    if (!response && ['batch_expired', 'batch_cancelled'].includes(result.error?.code ?? '')) return;
    const statusCode = response?.status_code ?? 500;
    const body = response
      ? response.body
      : { error: { message: result.error?.message ?? 'The provider did not run this request.', code: result.error?.code ?? null } };
    const usage = isObject(body) && isObject(body.usage) ? { ...usageFromOpenAI(body.usage as never), batch: true } : undefined;
    await tx.query(
      `UPDATE routing_batch_lines SET status_code = $3, answer = $4::jsonb, usage = $5::jsonb
       WHERE batch_id = $1 AND request_id = $2 AND reservation_id IS NOT NULL AND status_code IS NULL`,
      [batchId, result.custom_id, statusCode, JSON.stringify(body), usage ? JSON.stringify(Usage.toJSON(usage)) : null],
    );
  }

  /** The admitted lines of a batch whose provider batch ended, not yet recorded by ingress. */
  private async unsettled(batch: NativeBatch): Promise<BatchSettlement[]> {
    const { rows } = await this.db.query<{
      line: number;
      request_id: string;
      reservation_id: string;
      max_output_tokens: number;
      actor: unknown;
      body: Record<string, unknown>;
      status_code: number | null;
      answer: unknown;
      usage: unknown;
    }>(
      `SELECT line, request_id, reservation_id, max_output_tokens, actor, body, status_code, answer, usage FROM routing_batch_lines
       WHERE batch_id = $1 AND reservation_id IS NOT NULL AND NOT settled ORDER BY line`,
      [batch.id],
    );
    const ended = batch.provider_status ?? 'failed';
    return rows.map((row) => {
      const error = isObject(row.answer) && isObject(row.answer.error) ? row.answer.error : undefined;
      const failed = row.status_code === null || row.status_code >= 300;
      return {
        admission: {
          line: row.line,
          requestId: row.request_id,
          reservationId: row.reservation_id,
          maxOutputTokens: row.max_output_tokens ?? 0,
          actor: Actor.fromJSON(row.actor),
        },
        statusCode: row.status_code ?? 0,
        usage: row.usage ? Usage.fromJSON(row.usage) : undefined,
        served: { provider: batch.native_provider, model: batch.native_model, deployment: batch.native_deployment },
        model: String(row.body.model ?? ''),
        errorCode: !failed ? '' : row.status_code === null ? `batch_${ended}` : String(error?.code ?? 'upstream_error'),
        errorMessage: !failed ? '' : row.status_code === null ? `The provider's batch ended ${ended} before this request ran.` : String(error?.message ?? ''),
      };
    });
  }

  /**
   * Marks lines recorded by ingress; once every admitted line is, a batch whose provider batch ended is closed
   * (`close`), as the provider's batch ended.
   */
  async settled(id: string, admitted: BatchAdmission[], close: (tx: Queryable, ending: Ending) => Promise<void>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('UPDATE routing_batch_lines SET settled = true WHERE batch_id = $1 AND line = ANY($2::int[])', [id, admitted.map((a) => a.line)]);
      const { rows } = await tx.query<{ provider_status: string | null; left: number }>(
        `SELECT b.provider_status, (SELECT count(*)::int FROM routing_batch_lines WHERE batch_id = b.id AND reservation_id IS NOT NULL AND NOT settled) AS left
         FROM routing_batches b WHERE b.id = $1 AND b.status IN ('in_progress', 'cancelling') FOR UPDATE`,
        [id],
      );
      const batch = rows[0];
      if (batch?.provider_status && ENDED_STATUSES.has(batch.provider_status) && batch.left === 0) await close(tx, batch.provider_status as Ending);
    });
  }

  /** A reply for the runner: a provider-native batch it claimed, its lines to admit (none once handed off). */
  static reply(
    batch: { id: string; key_hash: Uint8Array; endpoint: string },
    lines: BatchWorkReply['lines'],
    settlements: BatchSettlement[] = [],
  ): BatchWorkReply {
    return { batchId: batch.id, keyHash: Buffer.from(batch.key_hash), endpoint: batch.endpoint, lines, stop: false, providerNative: true, settlements };
  }
}
