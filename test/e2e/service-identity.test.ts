import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCertificates } from '../../services/gateway/certs.js';
import { AuditService } from '../../services/gen/gateway/v1/audit.js';
import { CachingService } from '../../services/gen/gateway/v1/caching.js';
import { GovernanceService } from '../../services/gen/gateway/v1/governance.js';
import { MeteringService } from '../../services/gen/gateway/v1/metering.js';
import { RoutingService } from '../../services/gen/gateway/v1/routing.js';
import { grpcClient } from '../../services/kit/grpc.js';
import { GrpcTls } from '../../services/kit/grpc-tls.js';
import { SERVICE_NAMES } from '../../services/kit/service.js';
import { startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, freePort, isolatedInfra, requireInfra } from '../harness/infra.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

const DEFINITIONS = { governance: GovernanceService, caching: CachingService, routing: RoutingService, audit: AuditService, metering: MeteringService };
type Callee = keyof typeof DEFINITIONS;

/** Who may call what, as docs/architecture.md draws the calls between services; everyone else is refused. */
const ALLOWED: Record<Callee, Record<string, string[]>> = {
  governance: {
    authorize: ['ingress'],
    authorizeMany: ['ingress'],
    authorizeTools: ['ingress'],
    authorizeToolCall: ['ingress'],
    settle: ['ingress'],
    settleMany: ['ingress'],
    heartbeat: ['ingress'],
    extendReservation: ['ingress'],
  },
  caching: { lookup: ['routing'], store: ['routing'], listEntries: ['governance'], purge: ['governance'] },
  routing: {
    complete: ['ingress'],
    completeStream: ['ingress'],
    listModels: ['ingress'],
    callTool: ['ingress'],
    listTools: ['ingress', 'governance'],
    resolveModels: ['governance'],
    deploymentHealth: ['governance'],
    listMcpServers: ['governance'],
    startMcpAuthorization: ['governance'],
    completeMcpAuthorization: ['governance'],
    listAdminEntries: ['governance'],
    putAdminEntry: ['governance'],
    removeAdminEntry: ['governance'],
    storageEntries: ['ingress'],
    storedResponse: ['ingress'],
    files: ['ingress'],
    batches: ['ingress'],
    batchWork: ['ingress'],
    passthroughProvider: ['ingress'],
  },
  audit: {
    query: ['governance'],
    export: ['governance'],
    head: ['governance'],
    hashValue: ['governance'],
    verify: ['governance'],
    retention: ['governance'],
    setRetention: ['governance'],
    setLegalHold: ['governance'],
    legalHolds: ['metering'],
  },
  metering: { spend: ['governance'], exportUsage: ['governance'], recentUsage: ['governance'], toolCalls: ['governance'] },
};

type AnyClient = Record<string, (request: unknown) => Promise<unknown> | AsyncIterable<unknown>>;

/** Calls a method (a server stream's first item) with an empty request; resolves to its error code, or 'ok'. */
async function outcome(client: AnyClient, method: string, request: unknown): Promise<string> {
  try {
    const answer = client[method]!(request);
    if (Symbol.asyncIterator in (answer as object)) for await (const _ of answer as AsyncIterable<unknown>) break;
    else await answer;
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

// Issue 21, service identity: split mode runs mutual TLS between its processes
// (the harness's default), and each callee serves each method only to the
// services the architecture has call it, whoever else reaches its port.
describe('service identity between processes (split mode, mutual TLS)', () => {
  let gateway: SplitGateway;
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;
  const clients: { close(): void }[] = [];

  beforeAll(async () => {
    infra = await isolatedInfra();
    gateway = await startSplit({ nats: infra.nats, database: infra.database, routing: { providers: { mock: { type: 'mock' } } } });
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await gateway?.stop();
    await infra?.drop();
  });

  const tlsOf = (dir: string, name: string) =>
    new GrpcTls({ ca: join(dir, 'ca.crt'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), refreshSeconds: 60 });
  function client(callee: Callee, tls: GrpcTls | undefined): AnyClient {
    const made = grpcClient(DEFINITIONS[callee], gateway.grpcAddresses[callee], `${callee} service`, { deadlineMs: 10_000, tls: tls?.channelTo(callee) });
    clients.push(made);
    return made as unknown as AnyClient;
  }

  it('serves every method to the services allowed to call it and refuses every other service', async () => {
    const refusedWrongly: string[] = [];
    const allowedWrongly: string[] = [];
    for (const callee of Object.keys(DEFINITIONS) as Callee[]) {
      const definition = DEFINITIONS[callee] as Record<string, { requestDeserialize(bytes: Buffer): unknown }>;
      // The table covers every method the service has: a new method cannot be left out.
      expect(Object.keys(ALLOWED[callee]).sort(), callee).toEqual(Object.keys(definition).sort());
      for (const caller of SERVICE_NAMES) {
        const remote = client(callee, tlsOf(gateway.certsDir, caller));
        for (const [method, { requestDeserialize }] of Object.entries(definition)) {
          const code = await outcome(remote, method, requestDeserialize(Buffer.alloc(0)));
          const allowed = ALLOWED[callee][method]!.includes(caller);
          if (allowed && code === 'caller_not_allowed') refusedWrongly.push(`${caller} → ${callee}.${method}`);
          if (!allowed && code !== 'caller_not_allowed') allowedWrongly.push(`${caller} → ${callee}.${method} (${code})`);
        }
      }
    }
    expect(refusedWrongly).toEqual([]);
    expect(allowedWrongly).toEqual([]);
  });

  it('refuses a caller without TLS and one with a certificate from another CA, on every service', async () => {
    const stranger = mkdtempSync(join(tmpdir(), 'gw-stranger-'));
    initCertificates(stranger, { hosts: [], groups: [], days: 1 });
    for (const callee of Object.keys(DEFINITIONS) as Callee[]) {
      const method = Object.keys(ALLOWED[callee])[0]!;
      const request = (DEFINITIONS[callee] as Record<string, { requestDeserialize(bytes: Buffer): unknown }>)[method]!.requestDeserialize(Buffer.alloc(0));
      const allowedCaller = ALLOWED[callee][method]![0]!;
      expect(await outcome(client(callee, undefined), method, request), `${callee} without TLS`).toBe('service_unavailable');
      expect(await outcome(client(callee, tlsOf(stranger, allowedCaller)), method, request), `${callee} with another CA`).toBe('service_unavailable');
    }
  });

  it('refuses to start a process that would serve gRPC beyond loopback without TLS, unless told plaintext is acceptable', async () => {
    const env = {
      ...process.env,
      GATEWAY_CONFIG: '',
      GATEWAY_NATS__URL: requireInfra().natsUrl,
      // The machine's shared NATS takes anyone: this test is about gRPC.
      GATEWAY_NATS__INSECURE: 'true',
      // Routing keeps its admin-managed entries in PostgreSQL: this test's own database.
      GATEWAY_DATABASE__URL: infra.database.url,
      GATEWAY_SERVER__HOST: '0.0.0.0',
      GATEWAY_SERVER__OPS_PORT: String(await freePort()),
      GATEWAY_SERVER__GRPC_PORT: String(await freePort()),
    };
    const args = ['--import', 'tsx', 'services/gateway/cli.ts', 'start', '--services', 'routing'];
    const refused = await promisify(execFile)(process.execPath, args, { cwd: REPO, env, timeout: 30_000 }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/server\.tls\.ca.*server\.insecureGrpc/s) });
    // Told so, it starts, and says at start that anyone may call it.
    const insecure = spawn(process.execPath, args, { cwd: REPO, env: { ...env, GATEWAY_SERVER__INSECURE_GRPC: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    insecure.stdout.on('data', (data: Buffer) => (output += data.toString()));
    try {
      await eventually('the insecure process to be ready', async () => (output.includes('gateway ready') ? true : undefined));
      expect(output).toMatch(/gRPC between processes has no TLS/);
    } finally {
      insecure.kill('SIGKILL');
    }
  });
});
