import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';
import { inject } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Infra } from './global-setup.js';
import { keepDatabaseRows } from './leaks.js';

/** NATS and PostgreSQL for this test, or a failure that says how to provide them. */
export function requireInfra(): Infra {
  const infra = inject('infra');
  if (!infra) throw new Error(inject('infraProblem'));
  return infra;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A bearer token the gateway accepts (long and random), led by what it is for in the test. */
export function testToken(label: string): string {
  return `${label}-${randomBytes(16).toString('hex')}`;
}

/**
 * A fresh database on the test server, dropped by the returned function; in the
 * suite its rows are kept for the leak scan first (the benchmark, outside it, says no).
 */
export async function createDatabase(serverUrl: string, options: { keepRows: boolean } = { keepRows: true }): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName('gw_test');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      if (options.keepRows) await keepDatabaseRows(url.toString());
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      // Roles are the server's: the services' roles made for this database go with it.
      await client.query(
        `DROP ROLE IF EXISTS ${name}_audit_writer, ${name}_audit_maintainer, ${name}_governance, ${name}_routing, ${name}_caching, ${name}_metering`,
      );
      await client.end();
    },
  };
}

/** Stream and subject names no other test uses, and a function that deletes the stream. */
export function isolatedBus(natsUrl: string): { stream: string; subjectPrefix: string; cleanup(): Promise<void> } {
  const stream = uniqueName('T').toUpperCase();
  return {
    stream,
    subjectPrefix: stream.toLowerCase(),
    cleanup: async () => {
      const nc = await connect({ servers: natsUrl });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(stream).catch(() => false);
      } finally {
        await nc.close();
      }
    },
  };
}

/** A database and a JetStream stream of their own, as a gateway's `nats` and `database` config; drop() removes both. */
export async function isolatedInfra(): Promise<{
  nats: { url: string; stream: string; subjectPrefix: string; insecure: true };
  database: { url: string };
  drop(): Promise<void>;
}> {
  const infra = requireInfra();
  const database = await createDatabase(infra.databaseUrl);
  const bus = isolatedBus(infra.natsUrl);
  return {
    // The suite's shared NATS takes anyone; test/e2e/nats-auth.test.ts runs one with TLS and a user per service.
    nats: { url: infra.natsUrl, stream: bus.stream, subjectPrefix: bus.subjectPrefix, insecure: true },
    database: { url: database.url },
    drop: async () => {
      await bus.cleanup().catch(() => undefined);
      await database.drop();
    },
  };
}

/** Ports this process handed out, never handed out twice. */
const handedOut = new Set<number>();

/**
 * A port free to listen on, for a server started after this returns. Chosen
 * below the kernel's range of local ports for outgoing connections: a port
 * from that range (what listening on port 0 gives) can be taken by any
 * outgoing connection before the server listens, which the benchmark's
 * thousands of connections did (EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  const below = outgoingPortsFrom();
  if (below - LOWEST_PORT < 1_000) return listenOn(0);
  for (;;) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (below - LOWEST_PORT));
    if (handedOut.has(port)) continue;
    const free = await listenOn(port).catch(() => undefined);
    if (free === undefined) continue;
    handedOut.add(port);
    return port;
  }
}

const LOWEST_PORT = 10_000;

/** Where the kernel's local ports for outgoing connections begin (Linux: 32768 by default; macOS: 49152). */
function outgoingPortsFrom(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

/** Listens on the port and closes again; resolves with the port listened on. */
function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/** Polls until check() returns a value other than undefined, or fails after timeoutMs saying what it waited for. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
