import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorLine, usePolling } from './forms.js';

/** One deployment of GET /admin/deployments/health. */
interface Health {
  id: string;
  provider: string;
  model: string;
  circuit: 'closed' | 'open' | 'half-open';
  recent_failures: number;
  retry_at: string | null;
  in_flight: number;
  max_in_flight: number | null;
  queued: number;
  latency_ms: number | null;
  recent_calls: number;
  recent_faults: number;
  error_rate: number | null;
}

const POLL_MS = 5_000;

/** An open circuit says when its probe request goes through; a half-open one is letting it through now. */
const circuit = (h: Health) =>
  h.circuit === 'open' && h.retry_at ? (
    <>
      open until <time dateTime={h.retry_at}>{new Date(h.retry_at).toLocaleTimeString()}</time>
    </>
  ) : h.circuit === 'half-open' ? (
    'half-open (probing)'
  ) : (
    h.circuit
  );

/**
 * Every deployment's circuit, load and latency, polled. Each routing replica has its own circuits, so the table says
 * which replica answered; with several, successive polls may come from different ones.
 */
export function DeploymentHealth() {
  const [health, setHealth] = useState<{ replica: string; data: Health[] }>();
  const error = usePolling(
    () => async (stopped) => {
      const fresh = await api<{ replica: string; data: Health[] }>('GET', '/admin/deployments/health');
      if (!stopped()) setHealth(fresh);
    },
    POLL_MS,
    [],
  );

  const rows = health?.data ?? [];
  return (
    <section class="health" aria-labelledby="health-title">
      <h2 id="health-title">Deployment health</h2>
      <ErrorLine error={error} />
      {health && (
        <p class="hint">
          As routing replica <code>{health.replica}</code> sees it; read every {POLL_MS / 1000} seconds. Error rates and faults count within the circuit
          breaker's window; an open circuit counts its faults anew.
        </p>
      )}
      <div class="table">
        <table aria-label="Deployment health">
          <thead>
            <tr>
              <th>Deployment</th>
              <th>Circuit</th>
              <th>Error rate</th>
              <th>Faults toward opening</th>
              <th>In flight</th>
              <th>Queued</th>
              <th>Latency</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((h) => (
              <tr key={h.id}>
                <td>
                  {h.provider}/{h.model}
                </td>
                <td class={`circuit ${h.circuit}`}>{circuit(h)}</td>
                <td>{h.error_rate === null ? 'no calls lately' : `${Math.round(h.error_rate * 1000) / 10}% of ${h.recent_calls}`}</td>
                <td>{h.recent_failures}</td>
                <td>{h.max_in_flight === null ? h.in_flight : `${h.in_flight} of ${h.max_in_flight}`}</td>
                <td>{h.queued}</td>
                <td>{h.latency_ms === null ? 'not measured yet' : `${h.latency_ms} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {health && rows.length === 0 && <p class="empty">No deployment has been used or configured yet.</p>}
      </div>
    </section>
  );
}
