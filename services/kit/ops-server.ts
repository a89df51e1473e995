import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * The process's operations endpoints: /healthz (the process is alive),
 * /readyz (every service in it can work; 503 otherwise, with details),
 * /metrics (Prometheus text format), and views services register.
 */
export async function startOpsServer(options: {
  host: string;
  port: number;
  metrics: Registry;
  readiness: () => Record<string, boolean>;
  /** Extra read-only JSON views registered by services. */
  routes: ReadonlyMap<string, () => unknown>;
}): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const services = options.readiness();
      const ready = Object.values(services).every(Boolean);
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', services }));
    } else if (path === '/metrics') {
      options.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (path && options.routes.has(path)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.routes.get(path)!()));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : options.port };
}
