import { hostname } from 'node:os';
import type { DeploymentHealthResponse, DeploymentState } from '../gen/gateway/v1/routing.js';
import type { ModelCatalog } from './router/catalog.js';

/** Each replica has its own circuits and counters, so the answer names the replica it describes. */
const REPLICA = `${hostname()}:${process.pid}`;

/** Every deployment's circuit, load and latency as this replica sees them now. */
export function deploymentHealth(catalog: ModelCatalog): DeploymentHealthResponse {
  return {
    replica: REPLICA,
    deployments: catalog.allDeployments().map((d) => {
      const { calls, faults } = d.breaker.outcomes.counts;
      return {
        id: d.id,
        provider: d.provider.name,
        model: d.model,
        circuit: d.breaker.state,
        recentFailures: d.breaker.recentFailures,
        retryAtMs: d.breaker.retryAt || undefined,
        inFlight: d.inFlight,
        maxInFlight: d.slots.cap?.maxInFlight,
        queued: d.slots.queued,
        latencyMs: d.latencyMs === undefined ? undefined : Math.round(d.latencyMs),
        windowCalls: calls,
        windowFaults: faults,
      };
    }),
  };
}

/** A deployment's health in the JSON of the ops port's /routing/deployments and the admin API's /admin/deployments/health. */
export const healthView = (d: DeploymentState) => ({
  id: d.id,
  provider: d.provider,
  model: d.model,
  circuit: d.circuit,
  recent_failures: d.recentFailures,
  retry_at: d.retryAtMs === undefined ? null : new Date(d.retryAtMs).toISOString(),
  in_flight: d.inFlight,
  max_in_flight: d.maxInFlight ?? null,
  queued: d.queued,
  latency_ms: d.latencyMs ?? null,
  recent_calls: d.windowCalls,
  recent_faults: d.windowFaults,
  // Faults among the calls that succeeded or faulted: requests' own errors and 429s count as neither.
  error_rate: d.windowCalls ? Math.round((d.windowFaults / d.windowCalls) * 1000) / 1000 : null,
});
