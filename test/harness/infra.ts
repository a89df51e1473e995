import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { inject } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Infra } from './global-setup.js';

/** NATS and PostgreSQL for this test, or a failure that says how to provide them. */
export function requireInfra(): Infra {
  const infra = inject('infra');
  if (!infra) throw new Error(inject('infraProblem'));
  return infra;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A fresh database on the test server, dropped by the returned function. */
export async function createDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
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
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
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
  nats: { url: string; stream: string; subjectPrefix: string };
  database: { url: string };
  drop(): Promise<void>;
}> {
  const infra = requireInfra();
  const database = await createDatabase(infra.databaseUrl);
  const bus = isolatedBus(infra.natsUrl);
  return {
    nats: { url: infra.natsUrl, stream: bus.stream, subjectPrefix: bus.subjectPrefix },
    database: { url: database.url },
    drop: async () => {
      await bus.cleanup().catch(() => undefined);
      await database.drop();
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
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
