import { Counter, Histogram, type Registry } from 'prom-client';
import type { Attempt, GuardrailOutcome, RequestContext, Served, Usage } from '../gen/gateway/v1/common.js';
import type { EventPublisher } from '../kit/bus/publisher.js';
import { GatewayError } from '../kit/errors.js';
import { type IngressStoragePolicies, storedErrorMessage } from './storage-policies.js';
import { attemptEvent, EventType, requestEvent, type EventTypeName } from '../kit/events.js';
import type { Logger } from '../kit/log.js';
import { LATENCY_BUCKETS } from '../kit/metrics.js';

export interface Outcome {
  endpoint: string;
  model: string;
  httpStatus: number;
  stream: boolean;
  served?: Served;
  usage?: Usage;
  cacheHit?: boolean;
  attempts?: Attempt[];
  /** What the caller's guardrail policies did to the request and its answer (from routing). */
  guardrails?: GuardrailOutcome[];
  error?: GatewayError;
  /** The error code when it came from another service as a bare code (stream end). */
  errorCode?: string;
  /** The client's labels for spend reports (tags.ts). */
  tags?: string[];
}

/**
 * Records how each request ended: exactly one event per request
 * (request.completed, request.failed after admission, request.rejected before
 * it), plus metrics and a debug log line.
 */
export class OutcomeRecorder {
  private readonly requests: Counter<'endpoint' | 'status'>;
  private readonly duration: Histogram<'endpoint'>;
  private readonly overhead: Histogram<'endpoint'>;

  constructor(
    private readonly events: EventPublisher,
    metrics: Registry,
    private readonly log: Logger,
    private readonly emitAttempts: boolean,
    private readonly storage: IngressStoragePolicies,
  ) {
    this.requests = new Counter({
      name: 'gateway_requests_total',
      help: 'Client requests, by endpoint and HTTP status.',
      labelNames: ['endpoint', 'status'],
      registers: [metrics],
    });
    this.duration = new Histogram({
      name: 'gateway_request_duration_seconds',
      help: 'Time from request received to last byte sent, by endpoint.',
      labelNames: ['endpoint'],
      buckets: LATENCY_BUCKETS,
      registers: [metrics],
    });
    this.overhead = new Histogram({
      name: 'gateway_overhead_seconds',
      help: "The gateway's own time per request until its answer starts: total time minus the time spent waiting on providers, by endpoint.",
      labelNames: ['endpoint'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [metrics],
    });
  }

  /** Records the gateway's own time for a request whose answer starts now, and returns it in microseconds. */
  overheadUs(endpoint: string, startedAt: number, upstreamMs: number): number {
    const ownMs = Math.max(0, performance.now() - startedAt - upstreamMs);
    this.overhead.observe({ endpoint }, ownMs / 1000);
    return Math.round(ownMs * 1000);
  }

  /**
   * `admitted` says whether governance admitted the request (decides failed vs rejected). Resolves once an
   * answer's event is on record as events.guarantee asks (at once for refusals and failures, which never wait).
   */
  record(context: RequestContext, startedAt: number, admitted: boolean, outcome: Outcome): Promise<void> {
    const durationMs = performance.now() - startedAt;
    const type: EventTypeName = !outcome.error ? EventType.requestCompleted : admitted ? EventType.requestFailed : EventType.requestRejected;
    this.requests.inc({ endpoint: outcome.endpoint, status: String(outcome.httpStatus) });
    this.duration.observe({ endpoint: outcome.endpoint }, durationMs / 1000);
    const answered = type === EventType.requestCompleted;
    // The tags are the metadata the caller's storage policies decide on; they reach usage rows through this event.
    const storage = this.storage.forActor(context.actor);
    const tags = storage ? (outcome.tags ?? []).map((tag) => storage.text('metadata', tag)).filter((tag) => tag !== '') : (outcome.tags ?? []);
    const said = (message: string) => storedErrorMessage(storage, message);
    const attempts = storage ? (outcome.attempts ?? []).map((a) => ({ ...a, errorMessage: said(a.errorMessage) })) : (outcome.attempts ?? []);
    if (this.emitAttempts)
      for (const attempt of attempts) this.events.emit(attemptEvent({ service: 'ingress', context, storagePolicies: storage?.policies }, attempt));
    const event = requestEvent(
      type,
      { service: 'ingress', context, storagePolicies: storage?.policies },
      {
        endpoint: outcome.endpoint,
        model: outcome.model,
        served: outcome.served,
        httpStatus: outcome.httpStatus,
        usage: outcome.usage,
        stream: outcome.stream,
        cacheHit: outcome.cacheHit ?? false,
        durationMs,
        errorCode: outcome.errorCode || outcome.error?.code || '',
        errorMessage: said(outcome.error?.message ?? ''),
        attempts,
        guardrails: outcome.guardrails ?? [],
        tags,
        recordGuarantee: answered ? this.events.guarantee : 'best-effort',
      },
    );
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug(
        {
          requestId: context.requestId,
          traceId: context.traceId,
          keyId: context.actor?.keyId,
          endpoint: outcome.endpoint,
          model: outcome.model,
          status: outcome.httpStatus,
          durationMs,
          error: outcome.error?.code,
        },
        'request finished',
      );
    }
    if (!answered || this.events.guarantee !== 'durable') {
      this.events.emit(event);
      return Promise.resolve();
    }
    return this.events.record(event).catch((err: unknown) => {
      this.log.error({ err, requestId: context.requestId }, 'request event could not be made durable: answer withheld');
      throw new GatewayError(
        'service_unavailable',
        'The gateway could not put this request on record (its event spool or its database is full or failing), so it withholds the answer; retry later.',
      );
    });
  }
}
