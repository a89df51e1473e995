import { randomBytes } from 'node:crypto';
import { readForm } from './openai-audio.js';

/**
 * OpenAI's Files and Batch APIs as the fake serves them, from the API reference
 * (https://platform.openai.com/docs/api-reference/files, https://platform.openai.com/docs/api-reference/batch):
 * - POST /v1/files (multipart: file, purpose), GET /v1/files/{id}, GET /v1/files/{id}/content
 * - POST /v1/batches (input_file_id, endpoint, completion_window "24h", metadata), GET /v1/batches/{id},
 *   POST /v1/batches/{id}/cancel, GET /v1/batches
 * A batch runs its lines through the fake's own answers at once and is `completed` when first read, unless
 * batches are held (holdBatches): then it stays `in_progress` until released, or is cancelled (`cancelling`, then
 * `cancelled` when read next, having run none of its lines). Output and error files are in OpenAI's line format:
 * `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`.
 */

export interface FakeBatch {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: null;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
}

interface FakeFile {
  id: string;
  purpose: string;
  filename: string;
  content: Buffer;
  created_at: number;
}

type Answer = { status: number; body: unknown };
/** The fake's own answer to one request of a batch (its path and body), as it would answer it alone. */
export type LineAnswerer = (path: string, body: Record<string, unknown>) => Answer;

const BATCH_ENDPOINTS = new Set(['/v1/chat/completions', '/v1/embeddings', '/v1/completions', '/v1/responses', '/v1/moderations']);
const now = () => Math.floor(Date.now() / 1000);
const id = (prefix: string) => `${prefix}-${randomBytes(12).toString('hex')}`;
const notFound = (what: string): Answer => ({
  status: 404,
  body: { error: { message: `No such ${what}`, type: 'invalid_request_error', param: 'id', code: null } },
});
const invalid = (message: string, param: string): Answer => ({ status: 400, body: { error: { message, type: 'invalid_request_error', param, code: null } } });

function fileObject(file: FakeFile) {
  return {
    id: file.id,
    object: 'file',
    bytes: file.content.length,
    created_at: file.created_at,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    expires_at: null,
    status_details: null,
  };
}

export class FakeBatchApi {
  readonly files = new Map<string, FakeFile>();
  readonly batches = new Map<string, FakeBatch>();
  /** Every batch created, and every cancel asked, in order, as the provider saw them. */
  readonly created: FakeBatch[] = [];
  readonly cancels: string[] = [];
  private held = false;

  constructor(private readonly answer: LineAnswerer) {}

  /** Keeps batches in_progress until the returned function is called; then the next read of each completes it. */
  holdBatches(): () => void {
    this.held = true;
    return () => {
      this.held = false;
    };
  }

  /** Whether the request is one of these APIs. */
  serves(path: string): boolean {
    return path === '/v1/files' || path.startsWith('/v1/files/') || path === '/v1/batches' || path.startsWith('/v1/batches/');
  }

  async handle(method: string, path: string, raw: Buffer, contentType: string): Promise<Answer> {
    const parts = path.split('/').slice(2); // ['files' | 'batches', id?, 'content' | 'cancel'?]
    if (parts[0] === 'files') {
      if (method === 'POST' && parts.length === 1) return this.upload(raw, contentType);
      const file = this.files.get(parts[1] ?? '');
      if (!file) return notFound(`File object: ${parts[1]}`);
      if (method === 'GET' && parts.length === 2) return { status: 200, body: fileObject(file) };
      if (method === 'GET' && parts[2] === 'content') return { status: 200, body: file.content };
    } else {
      if (method === 'POST' && parts.length === 1) return this.create(JSON.parse(raw.toString('utf8')) as Record<string, unknown>);
      if (method === 'GET' && parts.length === 1) return { status: 200, body: { object: 'list', data: [...this.batches.values()].reverse(), has_more: false } };
      const batch = this.batches.get(parts[1] ?? '');
      if (!batch) return notFound(`batch: ${parts[1]}`);
      if (method === 'GET' && parts.length === 2) return { status: 200, body: this.advance(batch) };
      if (method === 'POST' && parts[2] === 'cancel') return { status: 200, body: this.cancel(batch) };
    }
    return { status: 404, body: { error: { message: `Invalid URL (${method} ${path})`, type: 'invalid_request_error', param: null, code: null } } };
  }

  private async upload(raw: Buffer, contentType: string): Promise<Answer> {
    const { fields, files } = await readForm(raw, contentType);
    if (fields.purpose !== 'batch') return invalid("Invalid value for 'purpose'.", 'purpose');
    const upload = files.find((f) => f.field === 'file')?.file;
    if (!upload) return invalid("Missing required parameter: 'file'.", 'file');
    const file = { id: id('file'), purpose: 'batch', filename: upload.name, content: Buffer.from(await upload.arrayBuffer()), created_at: now() };
    this.files.set(file.id, file);
    return { status: 200, body: fileObject(file) };
  }

  private create(body: Record<string, unknown>): Answer {
    const input = this.files.get(String(body.input_file_id));
    if (!input) return invalid(`No such File object: ${String(body.input_file_id)}`, 'input_file_id');
    if (!BATCH_ENDPOINTS.has(String(body.endpoint))) return invalid("Invalid value for 'endpoint'.", 'endpoint');
    if (body.completion_window !== '24h') return invalid("Invalid value for 'completion_window'.", 'completion_window');
    const total = input.content
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim()).length;
    const batch: FakeBatch = {
      id: id('batch'),
      object: 'batch',
      endpoint: String(body.endpoint),
      errors: null,
      input_file_id: input.id,
      completion_window: '24h',
      status: 'in_progress',
      output_file_id: null,
      error_file_id: null,
      created_at: now(),
      in_progress_at: now(),
      expires_at: now() + 86_400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total, completed: 0, failed: 0 },
      metadata: (body.metadata as Record<string, string> | undefined) ?? null,
    };
    this.batches.set(batch.id, batch);
    this.created.push(batch);
    return { status: 200, body: batch };
  }

  private cancel(batch: FakeBatch): FakeBatch {
    this.cancels.push(batch.id);
    if (batch.status === 'in_progress') Object.assign(batch, { status: 'cancelling', cancelling_at: now() });
    return batch;
  }

  /** What a read finds: a cancelling batch cancelled; one not held completed, its lines answered. */
  private advance(batch: FakeBatch): FakeBatch {
    if (batch.status === 'cancelling') Object.assign(batch, { status: 'cancelled', cancelled_at: now() });
    if (batch.status === 'in_progress' && !this.held) this.run(batch);
    return batch;
  }

  private run(batch: FakeBatch): void {
    const output: string[] = [];
    const errors: string[] = [];
    const lines = this.files
      .get(batch.input_file_id)!
      .content.toString('utf8')
      .split('\n')
      .filter((line) => line.trim());
    for (const text of lines) {
      const line = JSON.parse(text) as { custom_id: string; url: string; body: Record<string, unknown> };
      const answer = this.answer(line.url, line.body);
      const result = JSON.stringify({
        id: id('batch_req'),
        custom_id: line.custom_id,
        response: { status_code: answer.status, request_id: id('req'), body: answer.body },
        error: null,
      });
      (answer.status < 300 ? output : errors).push(result);
    }
    const store = (purpose: string, results: string[]) => {
      if (!results.length) return null;
      const file = { id: id('file'), purpose, filename: `${batch.id}_${purpose}.jsonl`, content: Buffer.from(`${results.join('\n')}\n`), created_at: now() };
      this.files.set(file.id, file);
      return file.id;
    };
    Object.assign(batch, {
      status: 'completed',
      finalizing_at: now(),
      completed_at: now(),
      output_file_id: store('batch_output', output),
      error_file_id: store('batch_error', errors),
      request_counts: { total: lines.length, completed: output.length, failed: errors.length },
    });
  }
}
