import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Attempt } from '../../gen/gateway/v1/common.js';
import { LATENCY_BUCKETS } from '../../kit/metrics.js';
import type { Deployment } from './deployment.js';

const CIRCUIT_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Provider call counts and times, and every deployment's live health. */
export class RouterMetrics {
  private readonly calls: Counter<'provider' | 'deployment' | 'outcome'>;
  private readonly duration: Histogram<'provider'>;

  /** `deployments` gives the current deployments (the set changes when providers or models change). */
  constructor(registry: Registry, deployments: () => Deployment[]) {
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
        for (const d of deployments()) this.set({ deployment: d.id }, CIRCUIT_VALUE[d.breaker.state]);
      },
    });
    new Gauge({
      name: 'gateway_deployment_in_flight',
      help: 'Provider calls in progress, by deployment.',
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        for (const d of deployments()) this.set({ deployment: d.id }, d.inFlight);
      },
    });
  }

  attempt(attempt: Attempt): void {
    this.calls.inc({ provider: attempt.provider, deployment: attempt.deployment, outcome: attempt.outcome });
    this.duration.observe({ provider: attempt.provider }, attempt.durationMs / 1000);
  }
}
