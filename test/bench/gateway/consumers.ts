/**
 * Whether the event consumers kept up: after a load phase, polls the ingress's
 * metrics (requests counted, events published, events still pending) and the
 * rows audit and metering wrote to PostgreSQL, until every request has its
 * audit row and every admitted request its usage row. Also reads the durable
 * JetStream consumers' pending counts.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';

export interface CatchUp {
  /** Whether every request reached both tables within the timeout. */
  caughtUp: boolean;
  /** From the end of the load until the last row was written (ms). */
  catchUpMs: number;
  /** Requests the ingress counted so far (all phases). */
  requests: number;
  /** Rows still missing when the load ended. */
  backlogAtEnd: { audit: number; metering: number };
  auditRows: number;
  usageRows: number;
  /** num_pending + num_ack_pending of the durable consumers once caught up (0 when they kept up). */
  jetstreamPending: { audit: number; metering: number };
}

interface Snapshot {
  requests: number;
  pendingEvents: number;
  publishedRequests: number;
  publishedAdmitted: number;
  auditRows: number;
  usageRows: number;
}

/** Sums the samples of one metric in Prometheus text, optionally only those whose labels match. */
export function metricSum(text: string, name: string, labels?: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labels && !labels.test(rest)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

export class ConsumerWatch {
  private constructor(
    private readonly db: pg.Client,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly ingressOpsUrl: string,
  ) {}

  static async open(databaseUrl: string, natsUrl: string, stream: string, ingressOpsUrl: string): Promise<ConsumerWatch> {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const nc = await connect({ servers: natsUrl });
    return new ConsumerWatch(db, nc, await jetstreamManager(nc), stream, ingressOpsUrl);
  }

  private async snapshot(): Promise<Snapshot> {
    const metrics = await (await fetch(`${this.ingressOpsUrl}/metrics`)).text();
    const { rows } = await this.db.query<{ audit: number; usage: number }>(
      `SELECT (SELECT count(*)::int FROM audit_events WHERE event_type LIKE 'request.%') AS audit, (SELECT count(*)::int FROM usage_records) AS usage`,
    );
    return {
      requests: metricSum(metrics, 'gateway_requests_total'),
      pendingEvents: metricSum(metrics, 'gateway_events_pending') + metricSum(metrics, 'gateway_events_spool_bytes'),
      publishedRequests: metricSum(metrics, 'gateway_events_published_total', /type="request\./),
      publishedAdmitted: metricSum(metrics, 'gateway_events_published_total', /type="request\.(completed|failed)"/),
      auditRows: rows[0]!.audit,
      usageRows: rows[0]!.usage,
    };
  }

  private async jetstreamPending(name: string): Promise<number> {
    const info = await this.jsm.consumers.info(this.stream, name).catch(() => undefined);
    return info ? info.num_pending + info.num_ack_pending : -1;
  }

  /** Polls until both tables hold a row for every request the ingress counted, or `timeoutMs` passed. */
  async waitCaughtUp(timeoutMs = 60_000): Promise<CatchUp> {
    const started = performance.now();
    const first = await this.snapshot();
    let last = first;
    let caughtUp = false;
    while (performance.now() - started < timeoutMs) {
      const s = last;
      if (s.pendingEvents === 0 && s.publishedRequests >= s.requests && s.auditRows >= s.publishedRequests && s.usageRows >= s.publishedAdmitted) {
        caughtUp = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
      last = await this.snapshot();
    }
    return {
      caughtUp,
      catchUpMs: Math.round(performance.now() - started),
      requests: last.requests,
      backlogAtEnd: { audit: Math.max(0, first.requests - first.auditRows), metering: Math.max(0, first.requests - first.usageRows) },
      auditRows: last.auditRows,
      usageRows: last.usageRows,
      jetstreamPending: { audit: await this.jetstreamPending('audit'), metering: await this.jetstreamPending('metering') },
    };
  }

  async close(): Promise<void> {
    await this.db.end().catch(() => undefined);
    await this.nc.close().catch(() => undefined);
  }
}
