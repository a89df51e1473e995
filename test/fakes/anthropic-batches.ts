import { randomBytes } from 'node:crypto';

/**
 * Anthropic's Message Batches API as the fake serves it, from the API reference
 * (https://docs.anthropic.com/en/api/creating-message-batches, .../retrieving-message-batches,
 * .../canceling-message-batches, .../retrieving-message-batch-results):
 * - POST /v1/messages/batches {requests: [{custom_id, params}]}, GET /v1/messages/batches/{id},
 *   POST /v1/messages/batches/{id}/cancel, GET /v1/messages/batches/{id}/results (JSON Lines)
 * A batch runs its requests through the fake's own answers and has ended when first read, unless batches are held
 * (holdBatches): then it stays in_progress until released, or is cancelled (canceling, then ended with each request
 * canceled when read next). Results are `{"custom_id", "result": {"type": "succeeded", "message"} | {"type":
 * "errored", "error"} | {"type": "canceled"} | {"type": "expired"}}`.
 */

type Answer = { status: number; body: unknown };
/** The fake's own answer to one Messages request, as it would answer it alone. */
export type MessageAnswerer = (params: Record<string, unknown>) => Answer;

interface Batch {
  id: string;
  type: 'message_batch';
  processing_status: 'in_progress' | 'canceling' | 'ended';
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  ended_at: string | null;
  created_at: string;
  expires_at: string;
  archived_at: null;
  cancel_initiated_at: string | null;
  results_url: string | null;
}

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const error = (status: number, type: string, message: string): Answer => ({ status, body: { type: 'error', error: { type, message } } });

export class FakeMessageBatches {
  /** Every batch created, with the requests it was sent, and every cancel asked, in order. */
  readonly created: { batch: Batch; requests: { custom_id: string; params: Record<string, unknown> }[] }[] = [];
  readonly cancels: string[] = [];
  private readonly results = new Map<string, string>();
  private held = false;

  constructor(
    private readonly answer: MessageAnswerer,
    private readonly url: () => string,
  ) {}

  /** Keeps batches in_progress until the returned function is called. */
  holdBatches(): () => void {
    this.held = true;
    return () => {
      this.held = false;
    };
  }

  serves(path: string): boolean {
    return path === '/v1/messages/batches' || path.startsWith('/v1/messages/batches/');
  }

  handle(method: string, path: string, raw: Buffer): Answer {
    const [id, action] = path.split('/').slice(4);
    if (method === 'POST' && !id) return this.create(JSON.parse(raw.toString('utf8')) as { requests?: unknown });
    const found = this.created.find((c) => c.batch.id === id);
    if (!found) return error(404, 'not_found_error', `Message batch ${id} not found`);
    const { batch } = found;
    if (method === 'GET' && !action) return { status: 200, body: this.advance(found) };
    if (method === 'POST' && action === 'cancel') {
      this.cancels.push(batch.id);
      if (batch.processing_status === 'in_progress') Object.assign(batch, { processing_status: 'canceling', cancel_initiated_at: new Date().toISOString() });
      return { status: 200, body: batch };
    }
    if (method === 'GET' && action === 'results') {
      const results = this.results.get(batch.id);
      return results === undefined ? error(400, 'invalid_request_error', 'Batch has not ended') : { status: 200, body: Buffer.from(results) };
    }
    return error(404, 'not_found_error', `Not found: ${method} ${path}`);
  }

  private create(body: { requests?: unknown }): Answer {
    const requests = body.requests as { custom_id: string; params: Record<string, unknown> }[] | undefined;
    if (!Array.isArray(requests) || requests.length === 0) return error(400, 'invalid_request_error', 'requests: Field required');
    const bad = requests.find((r) => !CUSTOM_ID.test(String(r.custom_id)));
    if (bad) return error(400, 'invalid_request_error', `requests.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
    const now = new Date();
    const batch: Batch = {
      id: `msgbatch_${randomBytes(12).toString('hex')}`,
      type: 'message_batch',
      processing_status: 'in_progress',
      request_counts: { processing: requests.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
      ended_at: null,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 86_400_000).toISOString(),
      archived_at: null,
      cancel_initiated_at: null,
      results_url: null,
    };
    this.created.push({ batch, requests });
    return { status: 200, body: batch };
  }

  /** What a read finds: a canceling batch ended with its requests canceled; one not held ended, its requests answered. */
  private advance({ batch, requests }: (typeof this.created)[number]): Batch {
    if (batch.processing_status === 'canceling') {
      const lines = requests.map((r) => JSON.stringify({ custom_id: r.custom_id, result: { type: 'canceled' } }));
      this.end(batch, lines, { canceled: requests.length });
    } else if (batch.processing_status === 'in_progress' && !this.held) {
      const counts = { succeeded: 0, errored: 0 };
      const lines = requests.map(({ custom_id, params }) => {
        const answer = this.answer(params);
        const ok = answer.status === 200;
        counts[ok ? 'succeeded' : 'errored']++;
        return JSON.stringify({ custom_id, result: ok ? { type: 'succeeded', message: answer.body } : { type: 'errored', error: answer.body } });
      });
      this.end(batch, lines, counts);
    }
    return batch;
  }

  private end(batch: Batch, lines: string[], counts: Partial<Batch['request_counts']>): void {
    this.results.set(batch.id, `${lines.join('\n')}\n`);
    Object.assign(batch, {
      processing_status: 'ended',
      ended_at: new Date().toISOString(),
      request_counts: { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0, ...counts },
      results_url: `${this.url()}/v1/messages/batches/${batch.id}/results`,
    });
  }
}
