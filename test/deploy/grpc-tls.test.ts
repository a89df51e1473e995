import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CachingService, LookupRequest, LookupResponse } from '../../services/gen/gateway/v1/caching.js';
import { grpcClient, GrpcServer, type Api } from '../../services/kit/grpc.js';
import { GrpcTls } from '../../services/kit/grpc-tls.js';
import { createLogger } from '../../services/kit/log.js';
import { SERVICE_NAMES } from '../../services/kit/service.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SETUP = join(REPO, 'deploy/grpc-tls/setup.sh');
const setup = (dir: string) =>
  execFileSync('sh', [SETUP, dir], { cwd: REPO, env: { ...process.env, GATEWAY: `${process.execPath} --import tsx services/gateway/cli.ts` } });

// What docker-compose.yml's grpc-tls-setup container does, run here: a folder
// per service holding the CA's certificate and that service's certificate and
// key, which the service's container mounts alone as /run/tls.
describe('deploy/grpc-tls/setup.sh', () => {
  it('gives each service a folder with its own certificate and key, signed by one CA, and keeps them when run again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-compose-tls-'));
    setup(dir);
    const files = (service: string) => ({
      ca: join(dir, service, 'ca.crt'),
      cert: join(dir, service, 'cert.crt'),
      key: join(dir, service, 'cert.key'),
      refreshSeconds: 60,
    });
    for (const service of SERVICE_NAMES) {
      const { ca, cert, key } = files(service);
      const certificate = new X509Certificate(readFileSync(cert));
      expect(certificate.verify(new X509Certificate(readFileSync(ca)).publicKey)).toBe(true);
      expect(certificate.checkPrivateKey(createPrivateKey(readFileSync(key)))).toBe(true);
      expect([...new GrpcTls(files(service)).services]).toEqual([service]);
      expect(statSync(key).mode & 0o077).toBe(0);
    }
    const before = readFileSync(join(dir, 'ingress', 'cert.crt'), 'utf8');
    setup(dir);
    expect(readFileSync(join(dir, 'ingress', 'cert.crt'), 'utf8')).toBe(before);
  });

  it('makes folders a caller and a callee use for mutual TLS as they are', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-compose-tls-'));
    setup(dir);
    const tls = (service: string) =>
      new GrpcTls({ ca: join(dir, service, 'ca.crt'), cert: join(dir, service, 'cert.crt'), key: join(dir, service, 'cert.key'), refreshSeconds: 60 });
    const server = new GrpcServer(tls('caching'));
    const log = createLogger({ level: 'silent' });
    const unused = async () => ({});
    const caching = { lookup: async () => LookupResponse.fromPartial({ hit: true }), store: unused, listEntries: unused, purge: unused } as unknown as Api<
      typeof CachingService
    >;
    server.add(CachingService, caching, log, { lookup: ['ingress'], store: ['ingress'], listEntries: ['governance'], purge: ['governance'] });
    const port = await server.listen('127.0.0.1', 0);
    const client = grpcClient(CachingService, `127.0.0.1:${port}`, 'caching service', { deadlineMs: 5_000, tls: tls('ingress').channelTo('caching') });
    try {
      expect(await client.lookup(LookupRequest.fromPartial({}))).toMatchObject({ hit: true });
    } finally {
      client.close();
      await server.stop(100);
    }
  });
});
