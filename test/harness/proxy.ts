import { connect, createServer, type Socket } from 'node:net';

export interface Outage {
  /** host:port clients connect to instead of the real server. */
  readonly address: string;
  /** The server "goes down": every connection drops and new ones are refused. */
  cut(): void;
  /** The server is back. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a real server (NATS, PostgreSQL), to take it away
 * from the gateway and give it back mid-test without touching the server the
 * rest of the suite shares. To a client, a cut is what a stopped server looks
 * like: connections reset, new ones refused.
 */
export async function startOutageProxy(targetHost: string, targetPort: number): Promise<Outage> {
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    cut: () => {
      down = true;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      down = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
