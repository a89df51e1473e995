import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { stringify as toYaml } from 'yaml';
import { gatewayConfig } from '../../services/gateway/config.js';
import { initCertificates } from '../../services/gateway/certs.js';
import { startGateway, type RunningGateway } from '../../services/gateway/runtime.js';
import { loadConfig } from '../../services/kit/config.js';
import { createLogger } from '../../services/kit/log.js';
import type { ServiceName } from '../../services/kit/service.js';
import { seedPglite } from './databases.js';
import { eventually, freePort, testToken } from './infra.js';
import { outputFile, recordSecret, recordSecretsIn } from './leaks.js';
import { watchResponsesFrom } from './responses.js';

export const ADMIN_TOKEN = testToken('test-admin');
const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface TestGateway {
  /** Base URL for the openai client (ends in /v1). */
  readonly baseURL: string;
  readonly adminUrl: string;
  readonly opsUrl: string;
  createKey(body?: { name?: string; team?: string; customer?: string; expires_at?: string }): Promise<{ id: string; key: string }>;
  client(apiKey: string): OpenAI;
  stop(): Promise<void>;
}

type Tree = Record<string, unknown>;

function testDefaults(dataDir: string): Tree {
  return {
    dataDir,
    log: { level: process.env.TEST_LOG_LEVEL ?? 'debug' },
    server: { host: '127.0.0.1', opsPort: 0, grpcPort: 0, shutdownTimeoutMs: 5_000 },
    ingress: { port: 0 },
    governance: { adminPort: 0, adminToken: ADMIN_TOKEN },
  };
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? merge(out[k] as Tree, v as Tree) : v;
  }
  return out;
}

/** Runs `gateway <args>` as an operator would, with no config but what env sets; its exit code and everything it printed. */
export async function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'services/gateway/cli.ts', ...args], {
    cwd: REPO,
    env: { ...process.env, GATEWAY_CONFIG: '', GATEWAY_DATABASE__URL: '', ...env },
  }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}

/** Calls the admin API as the owner; throws with the answer unless the status is one of `ok`. */
export async function admin<T = Record<string, unknown>>(
  adminUrl: string,
  method: string,
  path: string,
  body?: unknown,
  ok: number[] = [200, 201, 204],
): Promise<T> {
  const response = await fetch(`${adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!ok.includes(response.status)) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
  return (response.status === 204 ? {} : await response.json()) as T;
}

/** Creates a key, and its team first when the team does not exist yet. */
async function adminCreateKey(adminUrl: string, body: Tree): Promise<{ id: string; key: string }> {
  if (typeof body.team === 'string') await admin(adminUrl, 'POST', '/admin/teams', { id: body.team, name: body.team }, [201, 409]);
  // Its key is recorded as a secret by the response capture (responses.ts).
  return admin<{ id: string; key: string }>(adminUrl, 'POST', '/admin/keys', { name: 'test', ...body });
}

/**
 * Reads the whole audit log through the admin API, so that its rows are among the
 * responses the leak scan reads (the only way to the rows of an embedded database).
 * A test may have stopped governance or audit by now: then there is nothing to read.
 */
async function readAuditLog(adminUrl: string): Promise<void> {
  if (!adminUrl) return;
  const response = await fetch(`${adminUrl}/admin/audit/export`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
  await response?.arrayBuffer().catch(() => undefined);
}

function wrap(baseURL: string, adminUrl: string, opsUrl: string, stop: () => Promise<void>): TestGateway {
  watchResponsesFrom(baseURL, adminUrl, opsUrl);
  return {
    baseURL,
    adminUrl,
    opsUrl,
    createKey: (body = {}) => adminCreateKey(adminUrl, body),
    client: (apiKey) => new OpenAI({ baseURL, apiKey, maxRetries: 0 }),
    stop: async () => {
      await readAuditLog(adminUrl);
      await stop();
    },
  };
}

/** Runs the given services (default: all) inside the test process. */
export async function startInProcess(
  config: Tree = {},
  services?: ServiceName[],
): Promise<TestGateway & { running: RunningGateway; dataDir: string; logFile: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  recordSecretsIn(config);
  recordSecret(ADMIN_TOKEN);
  // Everything, debug included, goes to a file for the end-of-suite secret check.
  const parsed = loadConfig(gatewayConfig, { overrides: merge(testDefaults(dataDir), { ...config, log: { level: 'debug' } }), env: {} });
  if (!parsed.database.url && parsed.dataDir === dataDir) await seedPglite(join(dataDir, 'pg'));
  const log = outputFile('in-process');
  const running = await startGateway(
    parsed,
    services ?? ['governance', 'caching', 'routing', 'audit', 'metering', 'ingress'],
    createLogger({ level: 'debug', destination: log }),
  );
  const e = running.endpoints;
  return {
    ...wrap(`${e['ingress.http']}/v1`, e['governance.admin'] ?? '', e.ops!, running.stop),
    running,
    dataDir: parsed.dataDir,
    logFile: String(log.path),
  };
}

export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly opsUrl: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends a signal and waits for the process to exit; resolves to its exit code. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts the same service again, with the same configuration, once this one has exited. */
  restart(): Promise<ServiceProcess>;
}

/**
 * Starts `gateway start --services <services>` as its own OS process and waits until it is ready. Its ops
 * port is a free one, unless `defaultOpsPort` names the one it takes by default, which is then left to it.
 */
export async function spawnService(configFile: string, services: string, env: Record<string, string>, defaultOpsPort?: number): Promise<ServiceProcess> {
  const opsPort = defaultOpsPort ?? (await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/gateway/cli.ts', 'start', '--services', services, '--config', configFile], {
    cwd: REPO,
    env: { ...process.env, ...env, ...(defaultOpsPort === undefined ? { GATEWAY_SERVER__OPS_PORT: String(opsPort) } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const file = outputFile(services);
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    file.write(d);
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
    file.write(d);
  });
  child.once('exit', () => file.end());
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  watchResponsesFrom(opsUrl);
  await eventually(`${services} to be ready`, async () => {
    if (child.exitCode !== null) throw new Error(`${services} exited with ${child.exitCode}:\n${output}`);
    const res = await fetch(`${opsUrl}/readyz`).catch(() => undefined);
    return res?.status === 200 ? true : undefined;
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- output of ${services} ---\n${output}`);
  });
  return {
    name: services,
    child,
    opsUrl,
    output: () => output,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
    restart: async () => {
      await exited;
      return spawnService(configFile, services, env, defaultOpsPort);
    },
  };
}

export interface SplitGateway extends TestGateway {
  /** The first process of each service. */
  readonly processes: Record<ServiceName, ServiceProcess>;
  /** Every ingress replica's base URL for the openai client (ingress i talks to governance and caching replica i mod n). */
  readonly ingressURLs: string[];
  /** Admin API of every governance replica. */
  readonly adminUrls: string[];
  /** The CA and the service certificates the processes use (`gateway certs init`). */
  readonly certsDir: string;
  /** The processes' dataDir (the audit chain's generated key, its checkpoints). */
  readonly dataDir: string;
  /** Where each service's (first) process serves gRPC. */
  readonly grpcAddresses: Record<Exclude<ServiceName, 'ingress'>, string>;
  /** What all processes printed. */
  output(): string;
  /** Kills a service's (first) process with the signal, then starts it again. */
  restart(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs each service as its own OS process (governance, caching and ingress possibly as
 * several replicas), sharing NATS and PostgreSQL and reaching each other over
 * gRPC as a real deployment does. `envOf` adds environment variables of a
 * service's processes, such as its own NATS credentials.
 */
/**
 * Migrates an isolated database with the CLI, as its owner, and gives the config a gateway on it runs with: each
 * service as its own role (the URL without the owner), nothing migrated at start.
 */
export async function migratedInfra(infra: { nats: Tree; database: { url: string } }): Promise<Tree> {
  const migrated = await runCli(['migrate'], { GATEWAY_DATABASE__URL: infra.database.url, GATEWAY_LOG__LEVEL: 'warn' });
  if (migrated.code !== 0) throw new Error(`gateway migrate exited ${migrated.code}: ${migrated.out}`);
  const runtimeUrl = new URL(infra.database.url);
  runtimeUrl.username = '';
  return { nats: infra.nats, database: { url: runtimeUrl.toString(), migrate: false } };
}

export async function startSplit(
  config: Tree,
  replicas: { governance?: number; ingress?: number; caching?: number } = {},
  envOf: (service: ServiceName) => Record<string, string> = () => ({}),
): Promise<SplitGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-split-'));
  recordSecretsIn(config);
  recordSecret(ADMIN_TOKEN);
  const ports = async (n: number) => Promise.all(Array.from({ length: n }, () => freePort()));
  const governance = { grpc: await ports(replicas.governance ?? 1), admin: await ports(replicas.governance ?? 1) };
  const ingressPorts = await ports(replicas.ingress ?? 1);
  const grpcCaching = await ports(replicas.caching ?? 1);
  const [grpcRouting, grpcAudit, grpcMetering] = await ports(3);
  const shared = merge(testDefaults(dir), {
    ...config,
    ingress: merge((config.ingress as Tree) ?? {}, { port: ingressPorts[0] }),
    governance: merge((config.governance as Tree) ?? {}, {
      adminPort: governance.admin[0],
      adminToken: ADMIN_TOKEN,
      address: `127.0.0.1:${governance.grpc[0]}`,
    }),
    caching: merge((config.caching as Tree) ?? {}, { address: `127.0.0.1:${grpcCaching[0]}` }),
    routing: merge((config.routing as Tree) ?? {}, { address: `127.0.0.1:${grpcRouting}` }),
    audit: merge((config.audit as Tree) ?? {}, { address: `127.0.0.1:${grpcAudit}` }),
    metering: merge((config.metering as Tree) ?? {}, { address: `127.0.0.1:${grpcMetering}` }),
  });
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, toYaml(shared));
  // Mutual TLS between the processes, as a deployment runs: each service with a certificate of its own.
  const certsDir = join(dir, 'certs');
  initCertificates(certsDir, { hosts: [], groups: [], days: 1 });
  const tls = (name: ServiceName) => ({
    GATEWAY_SERVER__TLS__CA: join(certsDir, 'ca.crt'),
    GATEWAY_SERVER__TLS__CERT: join(certsDir, `${name}.crt`),
    GATEWAY_SERVER__TLS__KEY: join(certsDir, `${name}.key`),
  });

  const plan: { name: ServiceName; env: Record<string, string> }[] = [
    ...governance.grpc.map((grpc, i) => ({
      name: 'governance' as const,
      env: { GATEWAY_SERVER__GRPC_PORT: String(grpc), GATEWAY_GOVERNANCE__ADMIN_PORT: String(governance.admin[i]) },
    })),
    ...grpcCaching.map((grpc) => ({ name: 'caching' as const, env: { GATEWAY_SERVER__GRPC_PORT: String(grpc) } })),
    { name: 'routing', env: { GATEWAY_SERVER__GRPC_PORT: String(grpcRouting) } },
    { name: 'audit', env: { GATEWAY_SERVER__GRPC_PORT: String(grpcAudit) } },
    { name: 'metering', env: { GATEWAY_SERVER__GRPC_PORT: String(grpcMetering) } },
    ...ingressPorts.map((port, i) => ({
      name: 'ingress' as const,
      env: {
        GATEWAY_INGRESS__PORT: String(port),
        GATEWAY_GOVERNANCE__ADDRESS: `127.0.0.1:${governance.grpc[i % governance.grpc.length]}`,
        GATEWAY_CACHING__ADDRESS: `127.0.0.1:${grpcCaching[i % grpcCaching.length]}`,
      },
    })),
  ];
  const started: ServiceProcess[] = [];
  try {
    // Started one after another: many Node.js processes booting at once on two cores starve each other.
    for (const { name, env } of plan) started.push(await spawnService(file, name, { ...envOf(name), ...env, ...tls(name) }));
  } catch (err) {
    await Promise.all(started.map((p) => p.kill('SIGKILL')));
    throw err;
  }
  const ingressURLs = ingressPorts.map((port) => `http://127.0.0.1:${port}/v1`);
  const adminUrls = governance.admin.map((port) => `http://127.0.0.1:${port}`);
  watchResponsesFrom(...ingressURLs, ...adminUrls);
  const processes = {} as Record<ServiceName, ServiceProcess>;
  for (const p of started) processes[p.name as ServiceName] ??= p;
  const stop = async () => {
    // Front to back, as an orchestrator drains a deployment.
    for (const p of [...started].reverse()) await p.kill('SIGTERM');
  };
  const restart = async (name: ServiceName, signal: NodeJS.Signals = 'SIGKILL') => {
    const old = processes[name];
    await old.kill(signal);
    const fresh = await old.restart();
    processes[name] = fresh;
    started[started.indexOf(old)] = fresh;
  };
  return {
    ...wrap(`http://127.0.0.1:${ingressPorts[0]}/v1`, `http://127.0.0.1:${governance.admin[0]}`, processes.ingress.opsUrl, stop),
    processes,
    restart,
    ingressURLs,
    certsDir,
    dataDir: dir,
    grpcAddresses: {
      governance: `127.0.0.1:${governance.grpc[0]}`,
      caching: `127.0.0.1:${grpcCaching[0]}`,
      routing: `127.0.0.1:${grpcRouting}`,
      audit: `127.0.0.1:${grpcAudit}`,
      metering: `127.0.0.1:${grpcMetering}`,
    },
    adminUrls,
    output: () => started.map((p) => `--- ${p.name} ---\n${p.output()}`).join('\n'),
  };
}

export interface WorkersGateway extends TestGateway {
  /** The primary: `gateway start --workers n`. */
  readonly primary: ServiceProcess;
  /** The pids of the worker processes the primary runs now. */
  workerPids(): number[];
}

/** Runs every service in `workers` worker processes of one `gateway start`, sharing its ports, NATS and PostgreSQL. */
export async function startWorkers(config: Tree, workers: number): Promise<WorkersGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-workers-'));
  recordSecretsIn(config);
  recordSecret(ADMIN_TOKEN);
  // Fixed ports: in a cluster, port 0 would give each worker a port of its own.
  const [ingressPort, adminPort] = [await freePort(), await freePort()];
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, toYaml(merge(testDefaults(dir), { ...config, ingress: { port: ingressPort }, governance: { adminPort, adminToken: ADMIN_TOKEN } })));
  const primary = await spawnService(file, 'all', { GATEWAY_SERVER__WORKERS: String(workers) });
  return {
    ...wrap(`http://127.0.0.1:${ingressPort}/v1`, `http://127.0.0.1:${adminPort}`, primary.opsUrl, async () => void (await primary.kill('SIGTERM'))),
    primary,
    workerPids: () => readFileSync(`/proc/${primary.child.pid}/task/${primary.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
  };
}
