import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { BatchLine, BatchLineResult, BatchWorkReply } from '../gen/gateway/v1/routing.js';
import { errorBody } from '../kit/api-errors.js';
import { asGatewayError } from '../kit/errors.js';
import { processInstanceId } from '../kit/ids.js';
import type { Logger } from '../kit/log.js';
import type { BatchesConfig } from './config.js';
import type { IngressClients } from './pipeline.js';
import type { ProviderBatchLines } from './provider-batch-lines.js';

/** The header by which a batch line's request, sent by the runner inside this process, names the key it runs as. */
const LINE_HEADER = 'x-gateway-batch-line';

/**
 * The keys batch lines run as, each known to this process only by a random
 * token that lives while its batch runs here: a request carrying a token this
 * process did not issue is an ordinary request, and must present a key.
 */
export class BatchLineKeys {
  private readonly keys = new Map<string, Buffer>();

  issue(keyHash: Buffer): string {
    const token = randomBytes(32).toString('hex');
    this.keys.set(token, keyHash);
    return token;
  }

  revoke(token: string): void {
    this.keys.delete(token);
  }

  /** The hash of the key a request runs as when it is a batch line of this process. */
  keyHashOf(headers: IncomingHttpHeaders): Buffer | undefined {
    const token = headers[LINE_HEADER];
    return typeof token === 'string' ? this.keys.get(token) : undefined;
  }
}

/**
 * Runs the lines of batches (docs/routing.md#batches): claims a batch from
 * routing, sends each line through this ingress's own routes as the key that
 * created the batch (so its admission, budgets, limits, guardrails, audit and
 * usage rows are a client request's, tagged `batch:<id>`), `concurrency` at a
 * time, and records each answer as it comes. A batch cancelled or expired
 * starts no further line; at shutdown the lines running end and the batch is
 * let go, for this process's next start or another replica to resume.
 */
export class BatchRunner {
  private readonly holder = processInstanceId();
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly routing: IngressClients['routing'],
    private readonly keys: BatchLineKeys,
    private readonly settings: BatchesConfig,
    private readonly log: Logger,
    private readonly providerLines: ProviderBatchLines,
  ) {}

  start(app: FastifyInstance): void {
    this.loop = this.run(app);
  }

  /** A batch was created: look now rather than at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }

  private async run(app: FastifyInstance): Promise<void> {
    while (!this.stopped) {
      const batch = await this.routing
        .batchWork({ action: 'claim', holder: this.holder, batchId: '', maxLines: this.settings.concurrency * 8, results: [], admitted: [] })
        .catch((err: unknown) => void this.log.warn({ err }, 'could not claim a batch to run'));
      if (batch?.providerNative) await this.runAtProvider(batch);
      else if (batch?.batchId) await this.runLines(app, batch);
      else await this.idle();
    }
  }

  /** A batch at its provider's batch API: its lines admitted and handed off, or the provider's batch polled; then let go. */
  private async runAtProvider(batch: BatchWorkReply): Promise<void> {
    try {
      await this.providerLines.run(batch, (request) => this.routing.batchWork({ ...request, holder: this.holder }));
    } catch (err) {
      this.log.warn({ err, batchId: batch.batchId }, "could not hand a batch to its provider's batch API or poll it; trying again at the next poll");
    }
    await this.release(batch.batchId);
  }

  private async release(batchId: string): Promise<void> {
    await this.routing
      .batchWork({ action: 'release', holder: this.holder, batchId, maxLines: 0, results: [], admitted: [] })
      .catch((err: unknown) => this.log.warn({ err, batchId }, 'could not let a batch go; another process takes it when its lease ends'));
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.settings.pollIntervalMs);
      timer.unref();
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async runLines(app: FastifyInstance, batch: BatchWorkReply): Promise<void> {
    const token = this.keys.issue(Buffer.from(batch.keyHash));
    let next = 0;
    let halted = false;
    const worker = async () => {
      while (!halted && !this.stopped && next < batch.lines.length) {
        const result = await this.runLine(app, batch, batch.lines[next++]!, token);
        try {
          const reply = await this.routing.batchWork({
            action: 'record',
            holder: this.holder,
            batchId: batch.batchId,
            maxLines: 0,
            results: [result],
            admitted: [],
          });
          halted ||= reply.stop;
        } catch (err) {
          // Not recorded: the line stays to run, here or elsewhere, once routing answers again.
          this.log.warn({ err, batchId: batch.batchId }, 'could not record a batch line');
          halted = true;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, batch.lines.length) }, worker));
    } finally {
      this.keys.revoke(token);
    }
    if (this.stopped) await this.release(batch.batchId);
  }

  /** One line, as a client's request to the batch's endpoint; its answer whatever it is (a refusal is the line's error). */
  private async runLine(app: FastifyInstance, batch: BatchWorkReply, line: BatchLine, token: string): Promise<BatchLineResult> {
    try {
      const response = await app.inject({
        method: 'POST',
        url: batch.endpoint,
        headers: { 'content-type': 'application/json', [LINE_HEADER]: token, 'x-gateway-tags': `batch:${batch.batchId}` },
        payload: Buffer.from(line.body),
      });
      const requestId = response.headers['x-request-id'];
      return { line: line.line, statusCode: response.statusCode, requestId: typeof requestId === 'string' ? requestId : '', body: response.rawPayload };
    } catch (err) {
      const error = asGatewayError(err);
      this.log.error({ err, batchId: batch.batchId, line: line.line }, 'a batch line could not be sent');
      return { line: line.line, statusCode: error.status, requestId: '', body: Buffer.from(JSON.stringify(errorBody('openai', error))) };
    }
  }
}
