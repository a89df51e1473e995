import { AuditService } from '../gen/gateway/v1/audit.js';
import { CachingService } from '../gen/gateway/v1/caching.js';
import { GovernanceService } from '../gen/gateway/v1/governance.js';
import { MeteringService } from '../gen/gateway/v1/metering.js';
import { RoutingService } from '../gen/gateway/v1/routing.js';
import { grpcClient } from '../kit/grpc.js';
import type { GrpcTls } from '../kit/grpc-tls.js';
import type { CalleeName, Clients, ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';
import { MODULES } from './modules.js';

const CONTRACTS = { governance: GovernanceService, routing: RoutingService, caching: CachingService, audit: AuditService, metering: MeteringService };

/**
 * The process's one client per callee: a service of this process is called
 * in-process, through its api (the root starts it before those that declare
 * it); any other through gRPC, its channel made on first use.
 */
export class ClientMap {
  private readonly apis = new Map<ServiceName, object>();
  private readonly made = new Map<CalleeName, unknown>();
  private readonly channels: { close(): void }[] = [];

  constructor(
    private readonly config: GatewayConfig,
    private readonly services: readonly ServiceName[],
    private readonly tls: GrpcTls | undefined,
  ) {}

  /** A service of this process started: calls to it go to its api from now on. */
  started(name: ServiceName, api: object | undefined): void {
    if (api) this.apis.set(name, api);
  }

  /** What a service may call: the callees it declared, and nothing else. */
  for(name: ServiceName): Clients {
    const declared = new Set<string>(MODULES[name].dependsOn);
    return this.view((callee) => {
      if (!declared.has(callee)) throw new Error(`${name} calls ${callee}, which its definition does not declare in dependsOn`);
    });
  }

  /** Every callee, for the admin API, whose routes call the services that own them. */
  all(): Clients {
    return this.view(() => undefined);
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }

  /** Clients whose every access passes `check` first. */
  private view(check: (callee: CalleeName) => void): Clients {
    const clients = { inProcess: (callee: ServiceName) => this.services.includes(callee) } as Clients;
    for (const callee of Object.keys(CONTRACTS) as CalleeName[]) {
      Object.defineProperty(clients, callee, {
        get: () => {
          check(callee);
          return this.client(callee);
        },
      });
    }
    return clients;
  }

  private client(callee: CalleeName): unknown {
    const made = this.made.get(callee);
    if (made) return made;
    if (!this.services.includes(callee)) {
      const remote = this.remote(callee);
      this.made.set(callee, remote);
      return remote;
    }
    const api = this.apis.get(callee);
    if (!api) throw new Error(`the ${callee} service of this process has not started: a service is started after those in its dependsOn`);
    this.made.set(callee, api);
    return api;
  }

  private remote(callee: CalleeName): unknown {
    const { address, callTimeoutMs } = this.config[callee];
    const created = grpcClient(CONTRACTS[callee], address, `${callee} service`, { deadlineMs: callTimeoutMs, tls: this.tls?.channelTo(callee) });
    this.channels.push(created);
    return created;
  }
}

/** The services in the order they start: each after those it depends on (stopped in reverse); a cycle is refused, naming it. */
export function startOrder(
  services: readonly ServiceName[],
  dependsOn = (name: ServiceName): readonly ServiceName[] => MODULES[name].dependsOn,
): ServiceName[] {
  const order: ServiceName[] = [];
  const visiting: ServiceName[] = [];
  const visit = (name: ServiceName) => {
    if (order.includes(name)) return;
    if (visiting.includes(name)) throw new Error(`services depend on each other in a cycle: ${[...visiting.slice(visiting.indexOf(name)), name].join(' → ')}`);
    visiting.push(name);
    for (const dependency of dependsOn(name)) if (services.includes(dependency)) visit(dependency);
    visiting.pop();
    order.push(name);
  };
  for (const name of services) visit(name);
  return order;
}
