import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/harness/infra.js';
import { initCertificates } from '../gateway/certs.js';
import { CachingService, LookupRequest, LookupResponse, PurgeRequest } from '../gen/gateway/v1/caching.js';
import { grpcClient, GrpcServer, type Api } from './grpc.js';
import { GrpcTls } from './grpc-tls.js';
import { createLogger } from './log.js';

const log = createLogger({ level: 'silent' });
const lookup = LookupRequest.fromPartial({ namespace: 'team:a', key: 'k' });
const caching = {
  lookup: async () => LookupResponse.fromPartial({ hit: true, match: 'exact' }),
  store: async () => ({}),
  listEntries: async () => ({ entries: [], total: 0 }),
  purge: async () => ({ purged: 0 }),
} as unknown as Api<typeof CachingService>;

/** A development CA and a certificate per service, as `gateway certs init` writes them. */
function certificates(): { dir: string; tls(name: string, refreshSeconds?: number): GrpcTls } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-certs-'));
  initCertificates(dir, { hosts: [], groups: [{ name: 'front', services: ['ingress', 'routing'] }], days: 1 });
  return {
    dir,
    tls: (name, refreshSeconds = 60) => new GrpcTls({ ca: join(dir, 'ca.crt'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), refreshSeconds }),
  };
}

describe('mutual TLS between services', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function cachingServer(tls: GrpcTls): Promise<number> {
    const server = new GrpcServer(tls);
    server.add(CachingService, caching, log, { lookup: ['ingress'], store: ['ingress'], listEntries: ['governance'], purge: ['governance'] });
    const port = await server.listen('127.0.0.1', 0);
    cleanups.push(() => server.stop(100));
    return port;
  }

  function client(port: number, options: { tls?: GrpcTls; callee?: string } = {}) {
    const made = grpcClient(CachingService, `127.0.0.1:${port}`, 'caching service', {
      deadlineMs: 5_000,
      tls: options.tls?.channelTo(options.callee ?? 'caching'),
    });
    cleanups.push(() => made.close());
    return made;
  }

  it('serves each method only to the services allowed to call it', async () => {
    const certs = certificates();
    const port = await cachingServer(certs.tls('caching'));
    expect(await client(port, { tls: certs.tls('ingress') }).lookup(lookup)).toMatchObject({ hit: true });
    // A process running several services is each of them.
    expect(await client(port, { tls: certs.tls('front') }).lookup(lookup)).toMatchObject({ hit: true });
    await expect(client(port, { tls: certs.tls('governance') }).lookup(lookup)).rejects.toMatchObject({ code: 'caller_not_allowed', status: 403 });
    await expect(client(port, { tls: certs.tls('routing') }).purge(PurgeRequest.fromPartial({}))).rejects.toMatchObject({ code: 'caller_not_allowed' });
    expect(await client(port, { tls: certs.tls('governance') }).purge(PurgeRequest.fromPartial({}))).toMatchObject({ purged: 0 });
  });

  it('refuses a caller without TLS, one whose certificate another CA signed, and a callee that is not the service meant', async () => {
    const certs = certificates();
    const stranger = certificates();
    const port = await cachingServer(certs.tls('caching'));
    await expect(client(port).lookup(lookup)).rejects.toMatchObject({ code: 'service_unavailable' });
    await expect(client(port, { tls: stranger.tls('ingress') }).lookup(lookup)).rejects.toMatchObject({ code: 'service_unavailable' });
    const misdirected = client(port, { tls: certs.tls('ingress'), callee: 'governance' }).lookup(lookup);
    await expect(misdirected).rejects.toMatchObject({ code: 'service_unavailable', detail: expect.stringContaining('governance') });
  });

  it('takes rotated certificates from their files without a restart', async () => {
    const served = certificates();
    const next = certificates();
    // The server's files, which rotation replaces in place.
    const dir = mkdtempSync(join(tmpdir(), 'gw-rotating-'));
    const install = (from: string) => {
      for (const [file, name] of [
        ['ca.crt', 'ca.crt'],
        ['caching.crt', 'cert.crt'],
        ['caching.key', 'cert.key'],
      ])
        copyFileSync(join(from, file!), join(dir, name!));
    };
    install(served.dir);
    const port = await cachingServer(new GrpcTls({ ca: join(dir, 'ca.crt'), cert: join(dir, 'cert.crt'), key: join(dir, 'cert.key'), refreshSeconds: 1 }));
    expect(await client(port, { tls: served.tls('ingress') }).lookup(lookup)).toMatchObject({ hit: true });

    install(next.dir);
    // Callers holding certificates of the new CA are served once the files were read again; those of the old one no longer are.
    await eventually(
      'the rotated certificates in use',
      async () =>
        (await client(port, { tls: next.tls('ingress') })
          .lookup(lookup)
          .catch(() => undefined)) && true,
    );
    await expect(client(port, { tls: served.tls('ingress') }).lookup(lookup)).rejects.toMatchObject({ code: 'service_unavailable' });
  });
});
