import { createServer, type Server } from 'node:http';

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

/**
 * The process's operations endpoints: /healthz (the process is alive),
 * /readyz (every service can work; 503 otherwise, with details), /metrics
 * (Prometheus text format), and views services register.
 */
export async function startOpsServer(options: { host: string; port: number; source: OpsSource }): Promise<{ server: Server; port: number }> {
  const { source } = options;
  const answer = async (path: string | undefined): Promise<{ status: number; type?: string; body?: string }> => {
    if (path === '/healthz') return { status: 200, type: 'application/json', body: '{"status":"ok"}' };
    if (path === '/readyz') {
      const services = await source.readiness();
      const ready = Object.values(services).every(Boolean);
      return { status: ready ? 200 : 503, type: 'application/json', body: JSON.stringify({ status: ready ? 'ready' : 'not_ready', services }) };
    }
    if (path === '/metrics') return { status: 200, type: source.metricsContentType, body: await source.metrics() };
    const view = path ? await source.view(path) : undefined;
    return view === undefined ? { status: 404 } : { status: 200, type: 'application/json', body: JSON.stringify(view) };
  };
  const server = createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    answer((req.url ?? '/').split('?')[0]).then(
      ({ status, type, body }) => res.writeHead(status, type ? { 'content-type': type } : {}).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : options.port };
}
