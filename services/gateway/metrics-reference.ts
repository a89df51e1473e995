import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../kit/config.js';
import { createLogger } from '../kit/log.js';
import { createMetricsRegistry } from '../kit/metrics.js';
import { SERVICE_NAMES } from '../kit/service.js';
import { gatewayConfig } from './config.js';
import { startGateway } from './runtime.js';
import { primaryMetrics } from './workers.js';

/**
 * Renders docs/metrics.md from the metrics a gateway really registers: an
 * embedded gateway runs every service and its registry is read, so the
 * reference cannot drift from the code (a test compares them). Regenerate
 * with `npm run docs:metrics`.
 */

export interface MetricInfo {
  name: string;
  type: string;
  labels: string[];
  help: string;
  /** A labelled counter with series at 0 from start, so that increase() sees its first count. */
  fromStart: boolean;
}

/** What operators need beyond each metric's help: label values, where it is counted, what to alert on. */
const NOTES: Record<string, string> = {
  gateway_requests_total: 'Counted by ingress; a refused request counts under its status (`status="400"` and the like).',
  gateway_request_duration_seconds: 'Counted by ingress.',
  gateway_overhead_seconds: 'Counted by ingress; a cache hit is all gateway time. Retry waits count as gateway time.',
  gateway_governance_decisions_total:
    'Outcomes: `allowed`, `unknown`, `revoked`, `expired`, `model_not_allowed`, `budget`, `rpm`, `tpm`, `conc`; `budget` means a budget of the key, its team or customer is spent.',
  gateway_governance_overrun_usd_total: 'Spend past what budgets had reserved ([governance.md](governance.md#what-a-budget-guarantees)).',
  gateway_governance_reservations_released_total: "The reservation is kept as the request's charge (`governance.reservationTimeoutMs` for `timeout`).",
  gateway_upstream_requests_total:
    'Every attempt counts, retries and fallbacks included, and a wait for a slot that ended at `queueTimeoutMs` (`outcome="overloaded"`, not in `gateway_upstream_duration_seconds`). Up to 500 deployments a client made up get series of their own, the rest count as `deployment="<provider>/other"`.',
  gateway_provider_calls: 'Without a `maxConnections` for the provider, `queued` is always 0; alert on a sustained queue.',
  gateway_deployment_queued_calls:
    'Per routing process; only deployments with a `maxInFlight` have series ([routing.md](routing.md#caps-on-calls-in-flight)); alert on a sustained queue.',
  gateway_deployment_queue_seconds: 'Only calls that waited are counted; a wait that ended at `queueTimeoutMs` is also an attempt with outcome `overloaded`.',
  gateway_events_dropped_total: 'Reasons: `spool_full` (`events.spool.whenFull: drop`), `shutdown`, `refused`; alert on any.',
  gateway_events_refused_total:
    "Outcomes: `reduced` (its audit row shows the cut fields), `set_aside` (in the spool folder's `dead-letters.ndjson`, with no audit or usage row); alert on `set_aside` ([operations.md](operations.md#events-the-bus-refused)).",
  gateway_events_spooled_total: 'Sent from the spool when the bus takes them again.',
  gateway_consumer_events_total:
    'Consumers: `audit`, `metering`, `metering_tools`, and `siem-<name>` for each SIEM sink; events set aside in `dead_letters` are not counted.',
  gateway_consumer_pending_messages:
    "Read from JetStream when Prometheus scrapes (every replica of a consumer reports the same backlog: take the max, not the sum); a SIEM sink's is `siem-<name>`.",
  gateway_consumer_dead_letters_total:
    'PostgreSQL refused their values, or a SIEM receiver refused their content; alert on any ([operations.md](operations.md#dead-letters)).',
  gateway_consumer_dead_letters_retried_total: 'They leave `dead_letters` once written.',
  gateway_metering_unpriced_requests_total: 'Names up to 200 models, then `model="other"`.',
  gateway_worker_restarts_total: 'Only with `server.workers` above 1, from the primary.',
};

/** Every gateway metric of a process that runs all services, and of a `server.workers` primary; Node.js runtime metrics left out. */
export async function registeredMetrics(dataDir?: string): Promise<MetricInfo[]> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'gateway-metrics-'));
  try {
    const config = loadConfig(gatewayConfig, {
      overrides: { dataDir: dir, server: { opsPort: 0, grpcPort: 0 }, ingress: { port: 0 }, governance: { adminPort: 0 } },
      env: {},
    });
    const gateway = await startGateway(config, [...SERVICE_NAMES], createLogger({ level: 'silent' }));
    try {
      const primary = new Registry();
      primaryMetrics(primary);
      const runtime = new Set(
        createMetricsRegistry()
          .getMetricsAsArray()
          .map((m) => m.name),
      );
      const counted = await gateway.metrics.getMetricsAsJSON();
      const seriesAtStart = new Set(counted.filter((m) => m.values.some((v) => Object.keys(v.labels).length > 0)).map((m) => m.name));
      return [...gateway.metrics.getMetricsAsArray(), ...primary.getMetricsAsArray()]
        .filter((m) => !runtime.has(m.name))
        .map((m) => {
          // prom-client keeps each metric's configuration on it, labelNames included, though its types do not say so.
          const { name, type, help, labelNames = [] } = m as unknown as { name: string; type: string; help: string; labelNames?: string[] };
          return { name, type, help, labels: [...labelNames], fromStart: type === 'counter' && seriesAtStart.has(name) };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
    } finally {
      await gateway.stop();
    }
  } finally {
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
  }
}

const INTRO = `# Metrics reference

<!-- Generated by \`npm run docs:metrics\` from the metrics an embedded gateway registers. Do not edit by hand. -->

Every process serves its metrics on \`/metrics\` of its ops port ([operations.md](operations.md#endpoints-of-every-process)),
in Prometheus text format, besides Node.js runtime metrics (\`process_*\`, \`nodejs_*\`). A process has the metrics of the
services it runs: a split deployment's ingress has no \`gateway_cache_entries\`, its caching process no
\`gateway_requests_total\`. Metrics whose series are labelled appear once something was counted, except those marked
*series from start*, which have a series at 0 for each label value as soon as the process starts, so that \`increase()\` sees the
first one. Alerts and dashboards built on these are in \`deploy/prometheus/\` and \`deploy/grafana/\`
([operations.md](operations.md#dashboards-and-alerts)).

With \`server.workers\` above 1, the primary process serves \`/metrics\` for all its workers: each metric is summed over
the workers (counters and histograms add up; gauges such as \`gateway_cache_entries\` are the workers' total).

| metric | type | labels | meaning |
|---|---|---|---|
`;

const cell = (text: string) => text.replaceAll('|', '\\|');

export function renderMetricsReference(metrics: MetricInfo[]): string {
  const names = new Set(metrics.map((m) => m.name));
  const stale = Object.keys(NOTES).filter((name) => !names.has(name));
  if (stale.length > 0) throw new Error(`metrics-reference.ts has notes for metrics no service registers: ${stale.join(', ')}`);
  const rows = metrics.map(({ name, type, labels, help, fromStart }) => {
    const meaning = [help, NOTES[name], fromStart ? 'Series from start.' : undefined].filter(Boolean).join(' ');
    return `| \`${name}\` | ${type} | ${labels.map((l) => `\`${l}\``).join(', ')} | ${cell(meaning)} |`;
  });
  return `${INTRO}${rows.join('\n')}\n`;
}

// `tsx services/gateway/metrics-reference.ts` prints the reference (npm run docs:metrics).
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(renderMetricsReference(await registeredMetrics()));
}
