import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { JetStreamBus } from '../kit/bus/jetstream.js';
import { MemoryBus } from '../kit/bus/memory.js';
import { natsAccess } from '../kit/bus/nats-access.js';
import { BUS_USE, inboxPrefix, natsUserName } from '../kit/bus/nats-permissions.js';
import { DeadLetterFile } from '../kit/bus/dead-letter-file.js';
import { EventPublisher } from '../kit/bus/publisher.js';
import { Spool } from '../kit/bus/spool.js';
import type { EventBus } from '../kit/bus/types.js';
import { GrpcServer } from '../kit/grpc.js';
import { GrpcTls } from '../kit/grpc-tls.js';
import type { Logger } from '../kit/log.js';
import { createMetricsRegistry } from '../kit/metrics.js';
import { startTracing } from '../kit/tracing.js';
import { processPorts } from '../kit/ports.js';
import { Pricing } from '../kit/pricing/index.js';
import { SecretStore } from '../kit/secrets/store.js';
import { closeGracefully } from '../kit/http.js';
import { startOpsServer, type OpsSource } from '../kit/ops-server.js';
import { SERVICE_NAMES, type RunningService, type ServiceContext, type ServiceName } from '../kit/service.js';
import { buildAdminApi } from './admin-api.js';
import type { GatewayConfig } from './config.js';
import { ProcessDatabases } from './databases.js';
import { ClientMap, startOrder } from './clients.js';
import { MODULES, serviceConfig } from './modules.js';
import { checkDeployment } from './deployment.js';
import { answerPrimary } from './workers.js';

/** The process's JetStream bus, as its NATS user: credentials, TLS, its own inbox, and the stream rights its services have. */
async function connectJetStream(config: GatewayConfig, services: ServiceName[], secrets: SecretStore, log: Logger): Promise<JetStreamBus> {
  const { password, token } = config.nats.auth;
  await secrets.prepare([password, token].filter(Boolean));
  const access = natsAccess(config.nats, secrets, inboxPrefix(services), natsUserName(services));
  if (!access.authenticator || !access.tls) {
    log.warn(
      { credentials: Boolean(access.authenticator), tls: Boolean(access.tls) },
      'nats.insecure: NATS is used without credentials or TLS, so whoever can reach it may publish events that become audit and usage rows',
    );
  }
  const updatesStream = services.some((name) => BUS_USE[name].updatesStream);
  return JetStreamBus.connect({ ...config.nats, access, updatesStream }, `gateway:${services.join(',')}`, log);
}

export interface RunningGateway {
  /** Listener URLs by name: "ingress.http", "governance.admin", "ops", "grpc". */
  readonly endpoints: Readonly<Record<string, string>>;
  /** What /metrics serves, for the metrics reference to read each metric's type and labels from. */
  readonly metrics: Registry;
  stop(): Promise<void>;
}

/**
 * Starts the given services in this process; the others are reached over gRPC
 * and the bus. As a worker (`worker`: its slot), the primary serves the
 * operations endpoints, asking this process over IPC.
 */
export async function startGateway(config: GatewayConfig, services: ServiceName[], log: Logger, worker?: number): Promise<RunningGateway> {
  checkDeployment(config, services);
  const { opsPort, grpcPort } = processPorts(config.server, services);
  const metrics = createMetricsRegistry();
  const pricing = new Pricing(config.pricing.models);
  const secrets = new SecretStore(config.secrets, log.child({ component: 'secrets' }));
  // An all-in-one process (or worker) calls its services in-process: no gRPC, no TLS for it.
  const tls = SERVICE_NAMES.every((name) => services.includes(name)) ? undefined : grpcTls(config, services, log);
  const grpc = new GrpcServer(tls);
  const dataDir = resolve(config.dataDir);

  const databases = new ProcessDatabases(config.database, dataDir, secrets, log);
  let bus: Promise<EventBus> | undefined;
  let publisher: Promise<EventPublisher> | undefined;
  const getBus = () =>
    (bus ??= config.nats.url
      ? connectJetStream(config, services, secrets, log.child({ component: 'bus' }))
      : Promise.resolve(new MemoryBus(log.child({ component: 'bus' }), { batchLingerMs: config.nats.batchLingerMs })));
  const getPublisher = () =>
    (publisher ??= getBus().then(async (b) => {
      // Only a bus in another process can be unreachable; the in-process bus needs no spool: it accepts an event once
      // audit and metering wrote it.
      if (b.kind === 'memory') return new EventPublisher(b, log.child({ component: 'events' }), metrics, { guarantee: config.events.guarantee });
      const spool = config.events.spool;
      const base = spool.dir || join(dataDir, 'spool', `${services.join('+')}-${opsPort}`);
      const dir = worker === undefined ? base : join(base, `worker${worker}`);
      const opened = await Spool.open({ dir, maxBytes: spool.maxBytes, syncIntervalMs: spool.syncIntervalMs }, log.child({ component: 'spool' }));
      const deadLetters = await DeadLetterFile.open(join(dir, 'dead-letters.ndjson'), spool.maxBytes);
      const published = new EventPublisher(b, log.child({ component: 'events' }), metrics, {
        spool: opened,
        whenFull: spool.whenFull,
        lingerMs: config.nats.publishLingerMs,
        deadLetters,
        guarantee: config.events.guarantee,
      });
      await published.replayEarlier(config.server.shutdownTimeoutMs);
      return published;
    }));

  const clients = new ClientMap(config, services, tls);

  const running: { name: ServiceName; service: RunningService }[] = [];
  const opsRoutes = new Map<string, () => unknown>();
  const endpoints: Record<string, string> = {};
  let ops: Server | undefined;
  let admin: FastifyInstance | undefined;

  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopAll());
  const stopAll = async () => {
    const deadline = config.server.shutdownTimeoutMs;
    if (admin) await closeGracefully(admin);
    for (const { name, service } of [...running].reverse()) {
      try {
        await service.stop();
        log.info({ service: name }, 'service stopped');
      } catch (err) {
        log.error({ err, service: name }, 'service failed to stop cleanly');
      }
    }
    await grpc.stop(deadline);
    if (publisher) await (await publisher).flush(deadline);
    if (bus) await (await bus).close();
    await databases.close();
    clients.close();
    secrets.stop();
    if (ops) await new Promise((done) => ops!.close(done));
    await tracing?.stop();
  };

  // A process running every service is "gateway" to a trace backend; one running some, their names ("audit,metering").
  const tracing = startTracing(
    config.telemetry.traces,
    services.length === SERVICE_NAMES.length ? 'gateway' : services.join(','),
    log.child({ component: 'traces' }),
  );
  try {
    for (const name of startOrder(services)) {
      const module = MODULES[name] as (typeof MODULES)[ServiceName];
      const ctx: ServiceContext = {
        log: log.child({ service: name }),
        metrics,
        host: config.server.host,
        dataDir,
        clients: clients.for(name),
        pricing,
        secrets,
        database: () => {
          if (!module.database) throw new Error(`${name} declares no database plan`);
          return databases.open(module.database);
        },
        bus: getBus,
        events: getPublisher,
        opsRoute: (path, handler) => void opsRoutes.set(path, handler),
      };
      const service = await module.init(ctx, serviceConfig(name, config, services) as never);
      running.push({ name, service });
      if (module.contract && service.api) grpc.add(module.contract.service, service.api, ctx.log, module.contract.callers);
      clients.started(name, service.api);
      for (const [key, url] of Object.entries(service.endpoints ?? {})) endpoints[`${name}.${key}`] = url;
      log.info({ service: name }, 'service started');
    }
    // The admin API runs where governance runs, since its admins authenticate callers; other services' routes reach theirs through `clients`.
    const authority = running.find(({ service }) => service.admin)?.service.admin;
    if (authority) {
      const ingressUrl = endpoints['ingress.http'];
      admin = await buildAdminApi(authority, clients.all(), await getPublisher(), log.child({ service: 'governance' }), {
        url: config.governance.console.ingressUrl,
        port: ingressUrl ? Number(new URL(ingressUrl).port) : undefined,
      });
      endpoints['governance.admin'] = await admin.listen({ host: config.server.host, port: authority.port });
      log.info(
        { url: endpoints['governance.admin'], console: `${endpoints['governance.admin']}/console/` },
        'admin API listening (OpenAPI at /docs, console at /console/)',
      );
    }
    // An all-in-one process calls every service in-process; only a subset serves others over gRPC.
    if (grpc.hasServices && services.length < SERVICE_NAMES.length) {
      const port = await grpc.listen(config.server.host, grpcPort);
      endpoints.grpc = `${config.server.host}:${port}`;
      log.info({ port }, 'gRPC server listening');
    }
    const source: OpsSource = {
      metricsContentType: metrics.contentType,
      metrics: () => metrics.metrics(),
      readiness: async () => Object.fromEntries(running.map(({ name, service }) => [name, service.ready()])),
      view: async (path) => opsRoutes.get(path)?.(),
    };
    if (worker === undefined) {
      const started = await startOpsServer({ ...config.server, opsPort }, source);
      ops = started.server;
      endpoints.ops = started.url;
    } else {
      answerPrimary(metrics, source);
    }
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { endpoints, metrics, stop };
}

/**
 * The process's mutual TLS for gRPC, when configured: its certificate must
 * name every service the process runs, since that is who it is to the
 * services it calls and serves. Without TLS, a process that serves gRPC
 * beyond loopback says so at every start (checkDeployment let it start only
 * with server.insecureGrpc).
 */
function grpcTls(config: GatewayConfig, services: ServiceName[], log: Logger): GrpcTls | undefined {
  const { tls, host, insecureGrpc } = config.server;
  if (!tls.ca) {
    if (insecureGrpc) log.warn({ host }, 'gRPC between processes has no TLS (server.insecureGrpc): anyone who reaches this process can call its services');
    return undefined;
  }
  let loaded: GrpcTls;
  try {
    loaded = new GrpcTls(tls);
  } catch (err) {
    throw new Error(`server.tls.cert (${tls.cert}) cannot be read as a certificate: ${(err as Error).message}`, { cause: err });
  }
  const missing = services.filter((name) => !loaded.services.has(name));
  if (missing.length > 0) {
    throw new Error(
      `server.tls.cert (${tls.cert}) does not name ${missing.join(', ')}: a process's certificate must name every service it runs (gateway certs init issues one per service)`,
    );
  }
  return loaded;
}
