import type { Registry } from 'prom-client';
import type { AuditService } from '../gen/gateway/v1/audit.js';
import type { CachingService } from '../gen/gateway/v1/caching.js';
import type { MeteringService } from '../gen/gateway/v1/metering.js';
import type { GovernanceService } from '../gen/gateway/v1/governance.js';
import type { RoutingService } from '../gen/gateway/v1/routing.js';
import type { AdminAuthority } from './admin.js';
import type { EventBus } from './bus/types.js';
import type { EventPublisher } from './bus/publisher.js';
import type { DatabasePlan, PlanDatabases } from './db/plan.js';
import type { Api } from './grpc.js';
import type { Callers } from './grpc-tls.js';
import type { Logger } from './log.js';
import type { Pricing } from './pricing/index.js';
import type { SecretStore } from './secrets/store.js';

/**
 * The shape every service has, so the composition root can start any set of
 * them in one process. A service meets the others only through the clients
 * it declares (typed by the proto contracts) and the event bus.
 */

export const SERVICE_NAMES = ['ingress', 'routing', 'caching', 'governance', 'audit', 'metering'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The services others call: every one but ingress. */
export type CalleeName = Exclude<ServiceName, 'ingress'>;

/** A client per callee, typed by its proto contract: the service object in this process, else gRPC. */
export interface Clients {
  readonly governance: Api<typeof GovernanceService>;
  readonly routing: Api<typeof RoutingService>;
  readonly caching: Api<typeof CachingService>;
  readonly audit: Api<typeof AuditService>;
  readonly metering: Api<typeof MeteringService>;
  /** Whether the service runs in this process (its client is the service object itself, not gRPC). */
  inProcess(name: ServiceName): boolean;
}

/** The clients of the services a service declared it calls. */
export type ClientsOf<D extends CalleeName> = Pick<Clients, D | 'inProcess'>;

export interface ServiceContext<D extends CalleeName = CalleeName> {
  readonly log: Logger;
  readonly metrics: Registry;
  /** Host to bind listeners to. */
  readonly host: string;
  /** Folder for local state (embedded database, generated admin token). */
  readonly dataDir: string;
  readonly clients: ClientsOf<D>;
  /** Model prices: the shipped catalog with the config's overrides. */
  readonly pricing: Pricing;
  /** Secret references in config (env:, file:, vault:), kept current. */
  readonly secrets: SecretStore;
  /** The service's part of the database (its definition's plan), migrated while database.migrate is on, signed in as each of its roles. */
  database(): Promise<PlanDatabases>;
  /** The process's event bus, connected on first use. */
  bus(): Promise<EventBus>;
  /** Publishes events without holding up the caller; see EventPublisher. */
  events(): Promise<EventPublisher>;
  /** Serves GET <path> on the process's ops port with the JSON the handler returns (operator views). */
  opsRoute(path: string, handler: () => unknown): void;
}

export interface RunningService<A = unknown> {
  /** True when the service can do its work (its dependencies answer). */
  ready(): boolean;
  /** Stops taking new work and lets work in hand finish. */
  stop(): Promise<void>;
  /** What it serves to its callers: its contract's implementation (called in-process, or through gRPC). */
  readonly api?: A;
  /** URLs of the listeners the service opened, by name (e.g. { http: 'http://127.0.0.1:8080' }). */
  readonly endpoints?: Record<string, string>;
  /** Set by the service that knows the admins (governance): the root then serves the admin API in this process. */
  readonly admin?: AdminAuthority;
}

/** What a service serves over gRPC: its proto service, and which services may call each method. */
export interface Contract<S> {
  readonly service: S;
  /** Per method, the callers (checked against the caller's certificate between processes). */
  readonly callers: Callers<S>;
}

/**
 * A service as the root sees it. `dependsOn` are the services it calls, and
 * the only clients it gets; in one process they start before it. The root
 * starts services in an order derived from `dependsOn` (a cycle is refused)
 * and serves each contract.
 */
export interface ServiceDefinition<Config, D extends CalleeName = never, S = unknown> {
  readonly name: ServiceName;
  readonly dependsOn: readonly D[];
  readonly contract?: Contract<S>;
  /** The tables the service keeps and the roles it works as; `gateway migrate` applies every service's. */
  readonly database?: DatabasePlan;
  init(ctx: ServiceContext<D>, config: Config): Promise<RunningService<Api<S>>>;
}

export function defineService<Config, const D extends CalleeName = never, S = unknown>(
  definition: ServiceDefinition<Config, D, S>,
): ServiceDefinition<Config, D, S> {
  return definition;
}
