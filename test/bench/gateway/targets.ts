/**
 * The four things the benchmark measures, each started on its own and stopped
 * before the next one starts: the fake upstream directly, the floor proxy, the
 * gateway with every service in one process, and the gateway with every
 * service in its own process. Gateways get a fresh PostgreSQL database, their
 * own JetStream stream, and a virtual key with a rate limit and a budget.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { initCertificates } from '../../../services/gateway/certs.js';
import { createDatabase, freePort, isolatedBus, testToken } from '../../harness/infra.js';
import { ConsumerWatch } from './consumers.js';
import { forkScript, memoryOf, spawnGateway, type GatewayProc, type Proc } from './processes.js';

export const TARGETS = ['direct', 'floor', 'embedded', 'workers', 'split'] as const;
/** Worker processes of the workers target (gateway start --workers). */
export const BENCH_WORKERS = 2;
export type TargetName = (typeof TARGETS)[number];

export const MODEL = 'openai/gpt-4o-mini';
const ADMIN_TOKEN = testToken('bench-admin');
const UPSTREAM_KEY = 'sk-bench-upstream-0123456789';
/** Split mode's processes; ingress is started last, once the services it calls are ready. */
const SPLIT_ORDER = ['governance', 'caching', 'routing', 'audit', 'metering', 'ingress'] as const;

export interface Target {
  readonly name: TargetName;
  /** POST URL of /v1/chat/completions. */
  readonly url: string;
  readonly headers: Record<string, string>;
  /** The model to ask for (the upstream answers any). */
  readonly model: string;
  /** Processes whose memory is reported (none for direct: the upstream is not under test). */
  readonly processes: readonly Proc[];
  /** The process that takes client connections (ingress). */
  readonly front?: Proc;
  /** Gateways: the name of their PostgreSQL database. */
  readonly database?: string;
  /** Gateways: the events' way to PostgreSQL. */
  readonly consumers?: ConsumerWatch;
  /** Facts about the setup for the report. */
  readonly notes: Record<string, string | number | boolean>;
  stop(): Promise<void>;
}

export interface Infra {
  natsUrl: string;
  databaseUrl: string;
}

export function infraFromEnv(): Infra {
  return {
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}

export function startDirect(upstream: string): Target {
  return {
    name: 'direct',
    url: `${upstream}/v1/chat/completions`,
    headers: { authorization: `Bearer ${UPSTREAM_KEY}` },
    model: 'gpt-4o-mini',
    processes: [],
    notes: {},
    stop: async () => {},
  };
}

export async function startFloor(upstream: string, connections: number): Promise<Target> {
  const { proc, url } = await forkScript('floor', './floor.ts', { upstream, connections });
  return {
    name: 'floor',
    url: `${url}/v1/chat/completions`,
    headers: { authorization: `Bearer ${UPSTREAM_KEY}` },
    model: 'gpt-4o-mini',
    processes: [proc],
    front: proc,
    notes: { upstreamConnections: connections },
    stop: () => proc.stop(3_000),
  };
}

export interface GatewayOptions {
  /** What to run: the built cli.js, or services/gateway/cli.ts through tsx. */
  cli: string;
  upstream: string;
  infra: Infra;
  /** The provider's maxConnections (keep-alive connections to the upstream). */
  upstreamConnections: number;
  logLevel: string;
  /** events.guarantee: whether answers wait for their events to be durable. */
  guarantee: 'durable' | 'best-effort';
  /** Extra node flags for a gateway process, by the services it runs (e.g. --cpu-prof). */
  nodeArgs?: (services: string) => string[];
}

async function admin<T>(adminUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** A key with a request rate limit far above the bench's load and a budget it cannot spend. */
async function createBenchKey(adminUrl: string): Promise<{ key: string; id: string }> {
  await admin(adminUrl, 'POST', '/admin/teams', { id: 'bench', name: 'Benchmark' });
  const created = await admin<{ key: string; id: string }>(adminUrl, 'POST', '/admin/keys', {
    name: 'bench',
    team: 'bench',
    rpm_limit: 100_000_000,
    rate_window_seconds: 60,
  });
  await admin(adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: created.id, limit_usd: 1_000_000_000, period: 'month' });
  return created;
}

type Tree = Record<string, unknown>;

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const mine = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && mine && typeof mine === 'object' ? merge(mine as Tree, v as Tree) : v;
  }
  return out;
}

/** Resources shared by both modes: a folder, a fresh database, a stream of their own, the config file. */
async function prepare(options: GatewayOptions, ports: Tree) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  const database = await createDatabase(options.infra.databaseUrl, { keepRows: false });
  const bus = isolatedBus(options.infra.natsUrl);
  const config = merge(
    {
      dataDir: dir,
      log: { level: options.logLevel },
      server: { host: '127.0.0.1', opsPort: 0, grpcPort: 0, shutdownTimeoutMs: 5_000 },
      nats: { url: options.infra.natsUrl, stream: bus.stream, subjectPrefix: bus.subjectPrefix, insecure: true },
      database: { url: database.url },
      events: { guarantee: options.guarantee },
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${options.upstream}/v1`, apiKey: UPSTREAM_KEY, maxConnections: options.upstreamConnections } },
      },
    },
    ports,
  );
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, toYaml(config));
  const cleanup = async () => {
    await bus.cleanup().catch(() => undefined);
    await database.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, file, database, bus, cleanup };
}

/** Sends one request with the key until it is answered 200; returns the x-gateway-cache header. */
async function firstAnswer(url: string, key: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hello' }] }),
    });
    const text = await response.text();
    if (response.status === 200) return response.headers.get('x-gateway-cache') ?? '';
    if (Date.now() > deadline) throw new Error(`the gateway answered ${response.status}: ${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function finishGateway(
  name: 'embedded' | 'workers' | 'split',
  options: GatewayOptions,
  prepared: Awaited<ReturnType<typeof prepare>>,
  urls: { ingress: string; admin: string },
  procs: GatewayProc[],
  front: GatewayProc,
  measured: readonly Proc[] = procs,
): Promise<Target> {
  let consumers: ConsumerWatch | undefined;
  const stop = async () => {
    await consumers?.close();
    // Front to back, as an orchestrator drains a deployment.
    for (const p of [...procs].reverse()) await p.stop(10_000);
    await prepared.cleanup();
  };
  try {
    const { key } = await createBenchKey(urls.admin);
    const url = `${urls.ingress}/v1/chat/completions`;
    const cache = await firstAnswer(url, key);
    consumers = await ConsumerWatch.open(prepared.database.url, options.infra.natsUrl, prepared.bus.stream, front.opsUrl);
    return {
      name,
      url,
      headers: { authorization: `Bearer ${key}` },
      model: MODEL,
      processes: measured,
      front,
      consumers,
      database: new URL(prepared.database.url).pathname.slice(1),
      notes: {
        cache: `on; requests without temperature 0 are not cacheable (x-gateway-cache: ${cache})`,
        bus: 'NATS JetStream (file storage)',
        database: 'PostgreSQL',
        logLevel: options.logLevel,
        guarantee: options.guarantee,
        upstreamConnections: options.upstreamConnections,
        rateLimit: '100,000,000 requests / 60 s per key',
        budget: '$1,000,000,000 per month on the key',
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Every service in one process: `gateway start --services all`; with
 * `workers`, that many worker processes (and their primary) sharing the port.
 */
export async function startEmbedded(options: GatewayOptions, idleSettleMs = 2_000, workers = 1): Promise<Target & { idleRssMb: number }> {
  const [ingress, adminPort] = [await freePort(), await freePort()];
  const prepared = await prepare(options, { ingress: { port: ingress }, governance: { adminPort, adminToken: ADMIN_TOKEN }, server: { workers } });
  let proc: GatewayProc;
  try {
    proc = await spawnGateway(options.cli, prepared.file, 'all', {}, options.nodeArgs?.('all'));
  } catch (err) {
    await prepared.cleanup();
    throw err;
  }
  const urls = { ingress: `http://127.0.0.1:${ingress}`, admin: `http://127.0.0.1:${adminPort}` };
  const measured = workers > 1 ? [{ ...proc, name: 'primary' }, ...workersOf(proc)] : [proc];
  const target = await finishGateway(workers > 1 ? 'workers' : 'embedded', options, prepared, urls, [proc], measured[0] as GatewayProc, measured);
  // Idle: started, one key created and one request answered, then a moment to settle.
  await new Promise((r) => setTimeout(r, idleSettleMs));
  return { ...target, idleRssMb: measured.reduce((sum, p) => sum + memoryOf(p.pid).rssMb, 0) };
}

/** The worker processes a gateway primary forked, as processes to measure (the primary stops them). */
function workersOf(primary: GatewayProc): Proc[] {
  const pids = readFileSync(`/proc/${primary.pid}/task/${primary.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return pids.map((pid, i) => ({ name: `worker${i + 1}`, pid, output: () => '', stop: async () => {} }));
}

/** Each service its own process, talking gRPC. */
/** The split gateway; `tls`: mutual TLS between its processes, each with a certificate of its own, as deployments run it. */
export async function startSplit(options: GatewayOptions, tls: boolean, progress: (line: string) => void): Promise<Target> {
  const ports = {
    ingress: await freePort(),
    admin: await freePort(),
    governance: await freePort(),
    caching: await freePort(),
    routing: await freePort(),
    audit: await freePort(),
  };
  const prepared = await prepare(options, {
    ingress: { port: ports.ingress },
    governance: { adminPort: ports.admin, adminToken: ADMIN_TOKEN, address: `127.0.0.1:${ports.governance}` },
    caching: { address: `127.0.0.1:${ports.caching}` },
    routing: { address: `127.0.0.1:${ports.routing}` },
    // Metering asks audit for legal holds and each tenant's spend retention, and files no usage row before it has.
    audit: { address: `127.0.0.1:${ports.audit}` },
  });
  const grpcPort: Record<string, number> = { governance: ports.governance, caching: ports.caching, routing: ports.routing, audit: ports.audit };
  const certs = join(prepared.dir, 'certs');
  if (tls) initCertificates(certs, { hosts: [], groups: [], days: 1 });
  const tlsEnv = (name: string): Record<string, string> =>
    tls
      ? {
          GATEWAY_SERVER__TLS__CA: join(certs, 'ca.crt'),
          GATEWAY_SERVER__TLS__CERT: join(certs, `${name}.crt`),
          GATEWAY_SERVER__TLS__KEY: join(certs, `${name}.key`),
        }
      : {};
  const procs: GatewayProc[] = [];
  const spawnOne = async (name: string) => {
    const env = { ...tlsEnv(name), ...(grpcPort[name] ? { GATEWAY_SERVER__GRPC_PORT: String(grpcPort[name]) } : {}) };
    const proc = await spawnGateway(options.cli, prepared.file, name, env, options.nodeArgs?.(name));
    procs.push(proc);
    return proc;
  };
  try {
    // The services behind ingress start together (migrations take an advisory lock each), then ingress.
    progress(`  starting ${SPLIT_ORDER.slice(0, -1).join(', ')}…`);
    const started = await Promise.allSettled(SPLIT_ORDER.slice(0, -1).map(spawnOne));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
    progress('  starting ingress…');
    await spawnOne('ingress');
  } catch (err) {
    for (const p of procs.reverse()) await p.stop(0);
    await prepared.cleanup();
    throw err;
  }
  // A fixed order for the report (ingress last), whichever became ready first.
  procs.sort((a, b) => SPLIT_ORDER.indexOf(a.name as (typeof SPLIT_ORDER)[number]) - SPLIT_ORDER.indexOf(b.name as (typeof SPLIT_ORDER)[number]));
  return finishGateway(
    'split',
    options,
    prepared,
    { ingress: `http://127.0.0.1:${ports.ingress}`, admin: `http://127.0.0.1:${ports.admin}` },
    procs,
    procs.at(-1)!,
  );
}
