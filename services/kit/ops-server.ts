import { createServer, type Server } from 'node:http';
import { secretsEqual } from './secrets/keys.js';

/** What the operations endpoints show: this process's services, or (with workers) every worker's. */
export interface OpsSource {
  readonly metricsContentType: string;
  /** Prometheus text format. */
  metrics(): Promise<string>;
  /** Whether each service can work, by name. */
  readiness(): Promise<Record<string, boolean>>;
  /** A read-only JSON view a service registered, or undefined when none has this path. */
  view(path: string): Promise<unknown>;
}

/** Where the operations endpoints listen and who may read them (the `server` section of the config). */
export interface OpsSettings {
  readonly host: string;
  readonly opsPort: number;
  /** Bearer token for the data views (and /metrics with metricsNeedToken); empty: data views only on a loopback bind. */
  readonly opsToken: string;
  readonly metricsNeedToken: boolean;
}

/** Probes that orchestrators call without credentials; they tell nothing beyond up or ready. */
const PROBES = new Set(['/healthz', '/readyz']);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

type Answer = { status: number; type?: string; body?: string; headers?: Record<string, string> };

const refusal = (status: number, message: string, headers: Record<string, string> = {}): Answer => ({
  status,
  type: 'application/json',
  body: JSON.stringify({ error: { message } }),
  headers,
});

/** Why a request may not read `path`, or undefined when it may. */
function refused(settings: OpsSettings, path: string, authorization: string | undefined): Answer | undefined {
  if (PROBES.has(path) || (path === '/metrics' && !settings.metricsNeedToken)) return undefined;
  if (settings.opsToken) {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (presented && secretsEqual(presented, settings.opsToken)) return undefined;
    return refusal(401, 'Send Authorization: Bearer <server.opsToken>.', { 'www-authenticate': 'Bearer' });
  }
  if (isLoopback(settings.host)) return undefined;
  return refusal(403, 'This view is served beyond this machine only with server.opsToken set (or with server.host a loopback address).');
}

/**
 * The process's operations endpoints: /healthz (the process is alive),
 * /readyz (every service can work; 503 otherwise, with details), /metrics
 * (Prometheus text format), and views services register. The probes are
 * open; the rest as `refused` says.
 */
export async function startOpsServer(settings: OpsSettings, source: OpsSource): Promise<{ server: Server; url: string }> {
  const answer = async (path: string, authorization: string | undefined): Promise<Answer> => {
    const refusedFor = refused(settings, path, authorization);
    if (refusedFor) return refusedFor;
    if (path === '/healthz') return { status: 200, type: 'application/json', body: '{"status":"ok"}' };
    if (path === '/readyz') {
      const services = await source.readiness();
      const ready = Object.values(services).every(Boolean);
      return { status: ready ? 200 : 503, type: 'application/json', body: JSON.stringify({ status: ready ? 'ready' : 'not_ready', services }) };
    }
    if (path === '/metrics') return { status: 200, type: source.metricsContentType, body: await source.metrics() };
    const view = await source.view(path);
    return view === undefined ? { status: 404 } : { status: 200, type: 'application/json', body: JSON.stringify(view) };
  };
  const server = createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    answer((req.url ?? '/').split('?')[0]!, req.headers.authorization).then(
      ({ status, type, body, headers }) => res.writeHead(status, { ...(type ? { 'content-type': type } : {}), ...headers }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.opsPort, settings.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.opsPort;
  // A wildcard bind is reached on this machine through loopback.
  const local = settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host === '::' ? '::1' : settings.host;
  return { server, url: `http://${local.includes(':') ? `[${local}]` : local}:${port}` };
}
