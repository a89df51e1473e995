/**
 * The floor: the thinnest proxy that can stand where the gateway stands.
 * fastify takes the body as a buffer (no JSON parsing), an undici Pool sends
 * it to the upstream, and the answer (JSON or an SSE stream) is piped back
 * with its status and content type. No authentication, no events, no logging:
 * the cost of one extra HTTP hop in Node.js, which the gateway cannot beat.
 *
 * Run by the benchmark as a child process: `node --import tsx floor.ts '<options JSON>'`
 * sends `{ port }` to its parent.
 */
import Fastify from 'fastify';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

export interface FloorOptions {
  /** The upstream's base URL, without /v1. */
  upstream: string;
  /** Keep-alive connections to the upstream (the gateway's provider maxConnections is set to the same). */
  connections: number;
}

export function createFloor(options: FloorOptions) {
  const pool = new Pool(options.upstream, { connections: options.connections, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
  const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/v1/chat/completions', async (request, reply) => {
    const upstream = await pool.request({
      path: '/v1/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: request.headers.authorization ?? '' },
      body: request.body as Buffer,
    });
    void reply.code(upstream.statusCode);
    const type = upstream.headers['content-type'];
    if (typeof type === 'string') void reply.header('content-type', type);
    return reply.send(upstream.body);
  });
  app.addHook('onClose', async () => pool.close());
  return app;
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = JSON.parse(process.argv[2] ?? '{}') as FloorOptions;
  const app = createFloor(options);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.send({ port: Number(new URL(address).port) });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
