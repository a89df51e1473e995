import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Server, Socket } from 'node:net';

/**
 * Plumbing shared by the provider fakes: listening on a loopback port, closing
 * promptly, reading a request body and writing a JSON answer. What a provider's
 * wire format says (its request-id header, its error body) stays in its fake.
 */
export interface LocalServer {
  /** http://127.0.0.1:<port>, no trailing slash. */
  readonly url: string;
  /** Destroys every open connection (kept-alive, stalled or streaming), then closes the server. */
  close(): Promise<void>;
}

/** Starts `server` (HTTP or plain TCP) on an ephemeral port of 127.0.0.1, tracking its connections for close(). */
export async function listenLocally(server: Server): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The whole request body (HTTP/1.1 or HTTP/2 request). */
export async function readBody(req: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A JSON answer with content-type and content-length; `headers` add to or override those. */
export function writeJson(res: ServerResponse | Http2ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
