import type { BatchesRequest, BatchWorkReply, BatchWorkRequest, StoredReply } from '../gen/gateway/v1/routing.js';
import type { Database, Queryable } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';
import { prefixedId } from '../kit/ids.js';
import { readBatchInput } from './batch-input.js';
import type { RoutingConfig } from './config.js';
import { fileNotFound, json, limitOf, listPage, seconds, tenantFor, type FileStore } from './files.js';
import { invalid } from './formats/chat.js';
import { ProviderBatches, type Ending } from './provider-batches.js';

/**
 * The Batch API's batches (docs/routing.md#batches): created from an uploaded
 * file whose lines are checked and copied to `routing_batch_lines`, run by
 * ingress's batch runner (which claims a batch, sends each line through the
 * gateway as the batch's key and records its answer here), and closed into an
 * output file and an error file once no line is left, or it was cancelled or expired.
 */

type Settings = RoutingConfig['batches'];

/** The endpoints a batch's lines may go to: each is a route of ingress, run as a client's request would be. */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/embeddings', '/v1/completions', '/v1/responses', '/v1/moderations'];

const HOUR_MS = 3_600_000;

interface BatchRow {
  id: string;
  tenant: string;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  metadata: Record<string, string> | null;
  status: string;
  errors: unknown;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: Date;
  in_progress_at: Date | null;
  expires_at: Date;
  finalizing_at: Date | null;
  completed_at: Date | null;
  failed_at: Date | null;
  expired_at: Date | null;
  cancelling_at: Date | null;
  cancelled_at: Date | null;
  total: number;
  completed: number;
  failed: number;
}

/** An open batch as claim reads it. */
interface ClaimedRow {
  id: string;
  tenant: string;
  status: string;
  key_hash: Uint8Array;
  endpoint: string;
  expired: boolean;
  /** Handed to its provider's batch API (native_provider set), and handed off already. */
  native: boolean;
  handed_off: boolean;
}

interface LineRow {
  line: number;
  custom_id: string;
  status_code: number | null;
  request_id: string | null;
  answer: unknown;
}

/** A batch with its request counts, read from its lines. */
const SELECT_BATCH = `SELECT b.*, c.total, c.completed, c.failed FROM routing_batches b, LATERAL (
    SELECT count(*)::int AS total, (count(*) FILTER (WHERE status_code BETWEEN 200 AND 299))::int AS completed,
      (count(*) FILTER (WHERE status_code >= 300))::int AS failed
    FROM routing_batch_lines WHERE batch_id = b.id) c`;

/** OpenAI's Batch object. */
function batchObject(row: BatchRow) {
  return {
    id: row.id,
    object: 'batch',
    endpoint: row.endpoint,
    errors: row.errors ?? null,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status,
    output_file_id: row.output_file_id,
    error_file_id: row.error_file_id,
    created_at: seconds(row.created_at),
    in_progress_at: seconds(row.in_progress_at),
    expires_at: seconds(row.expires_at),
    finalizing_at: seconds(row.finalizing_at),
    completed_at: seconds(row.completed_at),
    failed_at: seconds(row.failed_at),
    expired_at: seconds(row.expired_at),
    cancelling_at: seconds(row.cancelling_at),
    cancelled_at: seconds(row.cancelled_at),
    request_counts: { total: row.total, completed: row.completed, failed: row.failed },
    metadata: row.metadata,
  };
}

const batchNotFound = (id: string) => new GatewayError('not_found', `No batch found with id '${id}'.`);

function createBody(raw: Buffer) {
  const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  const { input_file_id: inputFileId, endpoint, completion_window: window, metadata, output_expires_after: outputExpiry } = body;
  if (typeof inputFileId !== 'string' || !inputFileId) throw invalid("Missing required parameter: 'input_file_id'.", 'input_file_id');
  if (typeof endpoint !== 'string' || !BATCH_ENDPOINTS.includes(endpoint))
    throw invalid(`Invalid 'endpoint': this gateway runs batches for ${BATCH_ENDPOINTS.join(', ')}.`, 'endpoint');
  if (window !== '24h') throw invalid("Invalid 'completion_window': expected '24h'.", 'completion_window');
  const pairs = metadata === undefined || metadata === null ? [] : Object.entries(metadata as object);
  if (metadata !== undefined && metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata)))
    throw invalid("Invalid 'metadata': expected an object.", 'metadata');
  if (pairs.length > 16 || pairs.some(([key, value]) => key.length > 64 || typeof value !== 'string' || value.length > 512))
    throw invalid("Invalid 'metadata': at most 16 pairs of a key of 64 characters and a string value of 512.", 'metadata');
  // Ingress's schema checked output_expires_after's anchor and range (docs/routing.md#file-expiry).
  const outputExpiresAfter = (outputExpiry as { seconds?: number } | undefined)?.seconds ?? null;
  return { inputFileId, endpoint, window, metadata: pairs.length ? Object.fromEntries(pairs) : null, outputExpiresAfter };
}

export class BatchStore {
  constructor(
    private readonly db: Database,
    private readonly files: FileStore,
    private readonly settings: Settings,
    private readonly native: ProviderBatches,
  ) {}

  async handle(request: BatchesRequest): Promise<StoredReply> {
    const tenant = tenantFor(request);
    switch (request.action) {
      case 'create':
        return json(batchObject(await this.create(tenant, request)));
      case 'retrieve':
        return json(batchObject(await this.find(this.db, tenant, request.id)));
      case 'list':
        return json(await this.list(tenant, request));
      case 'cancel':
        return json(batchObject(await this.cancel(tenant, request.id)));
      default:
        throw invalid(`Unknown action ${request.action}.`);
    }
  }

  private async find(db: Queryable, tenant: string, id: string): Promise<BatchRow> {
    const { rows } = await db.query<BatchRow>(`${SELECT_BATCH} WHERE b.id = $1 AND b.tenant = $2`, [id, tenant]);
    if (!rows[0]) throw batchNotFound(id);
    return rows[0];
  }

  /** Checks the input file whole: a batch with a bad line fails at once, with every error listed (up to 100), and runs nothing. */
  private async create(tenant: string, request: BatchesRequest): Promise<BatchRow> {
    const { inputFileId, endpoint, window, metadata, outputExpiresAfter } = createBody(request.body);
    const content = await this.files.read(tenant, inputFileId);
    if (!content) throw fileNotFound(inputFileId, 'input_file_id');
    const input = readBatchInput(content, endpoint, this.settings.maxLines);
    const id = prefixedId('batch');
    const target = 'lines' in input ? this.native.targetOf(endpoint, input.lines, request.context) : undefined;
    return this.db.transaction(async (tx) => {
      const failed = 'errors' in input;
      await tx.query(
        `INSERT INTO routing_batches (id, tenant, key_hash, endpoint, input_file_id, completion_window, metadata, status, errors,
           in_progress_at, failed_at, expires_at, native_provider, native_model, native_deployment,
           output_expires_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10, $11, now() + make_interval(secs => $12), $13, $14, $15, $16)`,
        [
          id,
          tenant,
          Buffer.from(request.keyHash),
          endpoint,
          inputFileId,
          window,
          metadata ? JSON.stringify(metadata) : null,
          failed ? 'failed' : 'in_progress',
          failed ? JSON.stringify({ object: 'list', data: input.errors }) : null,
          failed ? null : new Date(),
          failed ? new Date() : null,
          (24 * HOUR_MS) / 1000,
          target?.provider ?? null,
          target?.model ?? null,
          target?.deployment ?? null,
          outputExpiresAfter,
        ],
      );
      if (!failed) {
        const lines = input.lines.map(({ line, customId, body }) => ({ line, custom_id: customId, body }));
        await tx.query(
          `INSERT INTO routing_batch_lines (batch_id, line, custom_id, body)
           SELECT $1, l.line, l.custom_id, l.body FROM jsonb_to_recordset($2::jsonb) AS l(line int, custom_id text, body jsonb)`,
          [id, JSON.stringify(lines)],
        );
      }
      return this.find(tx, tenant, id);
    });
  }

  private async list(tenant: string, request: BatchesRequest) {
    const limit = limitOf(request.limit, 20, 100);
    const params: unknown[] = [tenant, limit + 1];
    const after = request.after
      ? ` AND (b.created_at, b.id) < (SELECT created_at, id FROM routing_batches WHERE id = $${params.push(request.after)} AND tenant = $1)`
      : '';
    const { rows } = await this.db.query<BatchRow>(`${SELECT_BATCH} WHERE b.tenant = $1${after} ORDER BY b.created_at DESC, b.id DESC LIMIT $2`, params);
    return listPage(rows, limit, batchObject);
  }

  /** Stops a batch's lines: none starts from now; the runner closes it (cancelled) once those running have ended. */
  private async cancel(tenant: string, id: string): Promise<BatchRow> {
    const batch = await this.find(this.db, tenant, id);
    if (batch.status === 'cancelling' || batch.status === 'cancelled') return batch;
    if (batch.status !== 'in_progress') throw invalid(`Cannot cancel a batch with status '${batch.status}'.`);
    // A batch at its provider is polled now, which forwards the cancel.
    await this.db.query(
      "UPDATE routing_batches SET status = 'cancelling', cancelling_at = now(), next_poll_at = LEAST(next_poll_at, now()) WHERE id = $1 AND status = 'in_progress'",
      [id],
    );
    return this.find(this.db, tenant, id);
  }

  async work(request: BatchWorkRequest): Promise<BatchWorkReply> {
    const none: BatchWorkReply = { batchId: '', keyHash: Buffer.alloc(0), endpoint: '', lines: [], stop: false, providerNative: false, settlements: [] };
    switch (request.action) {
      case 'claim':
        return (await this.claim(request.holder, request.maxLines)) ?? none;
      case 'record':
        return { ...none, batchId: request.batchId, stop: await this.record(request) };
      case 'hand_off':
        return { ...none, batchId: request.batchId, settlements: await this.native.handOff(request, (tx) => recordResults(tx, request)) };
      case 'poll':
        return { ...none, batchId: request.batchId, settlements: await this.native.poll(request.batchId) };
      case 'settled':
        await this.native.settled(request.batchId, request.admitted, (tx, ending) => this.close(tx, { id: request.batchId }, ending));
        return none;
      case 'release':
        await this.db.query('UPDATE routing_batches SET claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2', [
          request.batchId,
          request.holder,
        ]);
        return none;
      default:
        throw invalid(`Unknown action ${request.action}.`);
    }
  }

  /**
   * The oldest open batch no other runner holds, and its next lines not yet run; one that is cancelling, expired or
   * has run every line is closed on the way. The claim lasts leaseMs, renewed by every line recorded.
   */
  private async claim(holder: string, maxLines: number): Promise<BatchWorkReply | undefined> {
    return this.db.transaction(async (tx) => {
      for (;;) {
        const { rows } = await tx.query<ClaimedRow>(
          `SELECT id, tenant, status, key_hash, endpoint, expires_at <= now() AS expired, native_provider IS NOT NULL AS native,
             provider_batch_id IS NOT NULL OR provider_status IS NOT NULL AS handed_off FROM routing_batches
           WHERE status IN ('in_progress', 'cancelling') AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until < now())
             AND (next_poll_at IS NULL OR next_poll_at <= now())
           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [holder],
        );
        const batch = rows[0];
        if (!batch) return undefined;
        // A batch at its provider is polled until the provider's ends (a cancel forwarded, expiry the provider's).
        if (batch.native && batch.handed_off) return this.claimed(tx, batch, holder, []);
        if (batch.status === 'cancelling' || batch.expired) {
          await this.close(tx, batch, batch.status === 'cancelling' ? 'cancelled' : 'expired');
          continue;
        }
        // A provider-native batch's lines are admitted all at once, before any is handed off.
        const lines = await tx.query<{ line: number; custom_id: string; body: unknown }>(
          `SELECT line, custom_id, body FROM routing_batch_lines WHERE batch_id = $1 AND status_code IS NULL ORDER BY line${batch.native ? '' : ' LIMIT $2'}`,
          batch.native ? [batch.id] : [batch.id, maxLines],
        );
        if (!lines.rows.length) {
          await this.close(tx, batch, 'completed');
          continue;
        }
        const handed = lines.rows.map((row) => ({ line: row.line, customId: row.custom_id, body: Buffer.from(JSON.stringify(row.body)) }));
        return this.claimed(tx, batch, holder, handed);
      }
    });
  }

  /** Holds the batch for `holder` for leaseMs and hands it its lines (a provider-native batch: all of them, to admit). */
  private async claimed(tx: Queryable, batch: ClaimedRow, holder: string, lines: BatchWorkReply['lines']): Promise<BatchWorkReply> {
    await tx.query('UPDATE routing_batches SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3) WHERE id = $1', [
      batch.id,
      holder,
      this.settings.leaseMs / 1000,
    ]);
    if (batch.native) return ProviderBatches.reply(batch, lines);
    return { batchId: batch.id, keyHash: Buffer.from(batch.key_hash), endpoint: batch.endpoint, lines, stop: false, providerNative: false, settlements: [] };
  }

  /** Keeps lines' answers (a line's first answer only: a line is never counted twice) and renews the claim; true when the batch must stop. */
  private async record(request: BatchWorkRequest): Promise<boolean> {
    await recordResults(this.db, request);
    const { rows } = await this.db.query<{ stop: boolean }>(
      `UPDATE routing_batches SET claimed_until = now() + make_interval(secs => $3)
       WHERE id = $1 AND claimed_by = $2 RETURNING status <> 'in_progress' OR expires_at <= now() AS stop`,
      [request.batchId, request.holder, this.settings.leaseMs / 1000],
    );
    // A runner whose claim was taken over (it ran past its lease) stops too.
    return rows[0]?.stop ?? true;
  }

  /** Writes the output and error files in OpenAI's batch output format and ends the batch: completed, cancelled or expired. */
  private async close(tx: Queryable, batch: { id: string }, status: Ending): Promise<void> {
    await tx.query("UPDATE routing_batches SET status = 'finalizing', finalizing_at = now() WHERE id = $1", [batch.id]);
    const { rows } = await tx.query<LineRow>(
      'SELECT line, custom_id, status_code, request_id, answer FROM routing_batch_lines WHERE batch_id = $1 ORDER BY line',
      [batch.id],
    );
    const output: string[] = [];
    const errors: string[] = [];
    for (const row of rows) {
      const id = prefixedId('batch_req');
      if (row.status_code === null) {
        // A line that never ran: listed as expired; a cancelled batch's lines that never ran are simply not run.
        if (status === 'expired') {
          const error = { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' };
          errors.push(JSON.stringify({ id, custom_id: row.custom_id, response: null, error }));
        }
        continue;
      }
      const line = JSON.stringify({
        id,
        custom_id: row.custom_id,
        response: { status_code: row.status_code, request_id: row.request_id, body: row.answer },
        error: null,
      });
      (row.status_code >= 200 && row.status_code < 300 ? output : errors).push(line);
    }
    const { rows: owner } = await tx.query<{ tenant: string; output_expires_after: number | null }>(
      'SELECT tenant, output_expires_after FROM routing_batches WHERE id = $1',
      [batch.id],
    );
    const { tenant, output_expires_after: expiresAfter } = owner[0]!;
    // Kept output_expires_after seconds from now, when the client asked: OpenAI anchors it at the file's creation.
    const write = async (purpose: string, lines: string[]) =>
      lines.length
        ? (await this.files.insert(tx, tenant, purpose, `${batch.id}_${purpose}.jsonl`, Buffer.from(`${lines.join('\n')}\n`), expiresAfter ?? 0)).id
        : null;
    await tx.query(
      `UPDATE routing_batches SET status = $2, output_file_id = $3, error_file_id = $4, claimed_by = NULL, claimed_until = NULL,
         completed_at = CASE WHEN $2 = 'completed' THEN now() END, cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() END,
         expired_at = CASE WHEN $2 = 'expired' THEN now() END, failed_at = CASE WHEN $2 = 'failed' THEN now() ELSE failed_at END
       WHERE id = $1`,
      [batch.id, status, await write('batch_output', output), await write('batch_error', errors)],
    );
  }
}

/** Keeps lines' answers: a line's first answer only, so a line is never counted twice. */
async function recordResults(db: Queryable, request: BatchWorkRequest): Promise<void> {
  for (const result of request.results) {
    await db.query(
      `UPDATE routing_batch_lines SET status_code = $3, request_id = $4, answer = $5::jsonb
       WHERE batch_id = $1 AND line = $2 AND status_code IS NULL`,
      [request.batchId, result.line, result.statusCode, result.requestId, answerJson(result.body)],
    );
  }
}

/** A line's answer as JSON; one that is not JSON (it should always be) kept as a string. */
function answerJson(body: Uint8Array): string {
  const text = Buffer.from(body).toString('utf8');
  try {
    JSON.parse(text);
    return text;
  } catch {
    return JSON.stringify(text);
  }
}
