import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per process: Node.js runtime metrics plus what each service registers. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Histogram buckets in seconds, from 100 µs (gateway overhead) to 2 minutes (long generations). */
export const LATENCY_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** One metric object per registry and name, shared by every part of the process that counts it. */
export function sharedMetric<M>(metrics: Registry, name: string, create: () => M): M {
  return (metrics.getSingleMetric(name) as M | undefined) ?? create();
}

/** A gauge whose value is read when Prometheus scrapes, e.g. the size of a map. */
export function readOnScrape(metrics: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [metrics],
    collect() {
      this.set(read());
    },
  });
}

/**
 * A label value that clients choose (a model name) as a series of its own for
 * the first `max` values seen, then as `other`: each series costs memory and
 * every scrape, so what clients name must not make more of them without end.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string, other = 'other'): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return other;
    this.seen.add(value);
    return value;
  }

  /** The value if it already has a series of its own, else `other`, adding nothing. */
  ifSeen(value: string, other = 'other'): string {
    return this.seen.has(value) ? value : other;
  }
}
