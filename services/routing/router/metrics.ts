import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Attempt } from '../../gen/gateway/v1/common.js';
import { BoundedLabel, LATENCY_BUCKETS } from '../../kit/metrics.js';
import type { Deployment } from './deployment.js';

const CIRCUIT_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Deployments a client made up (`<provider>/<any model>`) that get series of their own, at most. */
const AD_HOC_SERIES = 500;

/** Provider call counts and times, and every deployment's live health. */
export class RouterMetrics {
  private readonly calls: Counter<'provider' | 'deployment' | 'outcome'>;
  private readonly duration: Histogram<'provider'>;
  private readonly queueWait: Histogram<'deployment'>;

  /**
   * Configured deployments have series of their own, and so do those a client
   * named (`<provider>/<model>`) once a provider answered for them, up to
   * AD_HOC_SERIES: the rest are counted as `<provider>/other`, so made-up
   * model names cannot grow /metrics without end.
   */
  private readonly adHoc = new BoundedLabel(AD_HOC_SERIES);

  /**
   * `deployments` gives the current deployments (the set changes when
   * providers or models change); `configured` says whether an id is one the
   * configuration names.
   */
  constructor(
    registry: Registry,
    deployments: () => Deployment[],
    private readonly configured: (id: string) => boolean,
  ) {
    const label = (d: Deployment) => this.label(d.provider.name, d.id, false);
    this.calls = new Counter({
      name: 'gateway_upstream_requests_total',
      help: 'Calls to providers, by provider, deployment and outcome (ok, or the gateway error code).',
      labelNames: ['provider', 'deployment', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'gateway_upstream_duration_seconds',
      help: 'Time of a provider call until its answer (until the first chunk for streams).',
      labelNames: ['provider'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    new Gauge({
      name: 'gateway_deployment_circuit_state',
      help: 'Circuit breaker of each deployment: 0 closed, 1 half-open, 2 open.',
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        const worst = new Map<string, number>();
        for (const d of deployments()) worst.set(label(d), Math.max(worst.get(label(d)) ?? 0, CIRCUIT_VALUE[d.breaker.state]));
        for (const [deployment, value] of worst) this.set({ deployment }, value);
      },
    });
    new Gauge({
      name: 'gateway_provider_calls',
      help: 'HTTP calls to each provider now, by state: running (sent), queued (waiting for a connection under its maxConnections cap).',
      labelNames: ['provider', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        const providers = new Map(deployments().map((d) => [d.provider.name, d.provider]));
        for (const [provider, adapter] of providers) {
          const counts = adapter.callCounts?.();
          if (!counts) continue;
          this.set({ provider, state: 'running' }, counts.running);
          this.set({ provider, state: 'queued' }, counts.queued);
        }
      },
    });
    this.queueWait = new Histogram({
      name: 'gateway_deployment_queue_seconds',
      help: 'Time calls waited for a slot of a deployment at its maxInFlight, however the wait ended (a slot, queueTimeoutMs, the client gone).',
      labelNames: ['deployment'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    new Gauge({
      name: 'gateway_deployment_queued_calls',
      help: 'Calls waiting for a slot of a deployment at its maxInFlight, by deployment.',
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        for (const d of deployments()) if (d.slots.cap) this.set({ deployment: label(d) }, d.slots.queued);
      },
    });
    new Gauge({
      name: 'gateway_deployment_in_flight',
      help: 'Provider calls in progress, by deployment (a stream until it ends).',
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        for (const d of deployments()) this.inc({ deployment: label(d) }, d.inFlight);
      },
    });
  }

  attempt(attempt: Attempt): void {
    const deployment = this.label(attempt.provider, attempt.deployment, attempt.outcome === 'ok');
    this.calls.inc({ provider: attempt.provider, deployment, outcome: attempt.outcome });
    // An overloaded attempt never reached the provider: its time is in gateway_deployment_queue_seconds.
    if (attempt.outcome !== 'overloaded') this.duration.observe({ provider: attempt.provider }, attempt.durationMs / 1000);
  }

  queued(deployment: Deployment, ms: number): void {
    this.queueWait.observe({ deployment: this.label(deployment.provider.name, deployment.id, false) }, ms / 1000);
  }

  private label(provider: string, id: string, served: boolean): string {
    if (this.configured(id)) return id;
    const other = `${provider}/other`;
    return served ? this.adHoc.of(id, other) : this.adHoc.ifSeen(id, other);
  }
}
