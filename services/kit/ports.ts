import type { ServiceName } from './service.js';

/**
 * Each service's own default ports, all different, so that processes each
 * running one service on one host need no port settings, and each service's
 * default address is where it listens by default. Ingress serves no gRPC.
 * All below Linux's range of ports for outgoing connections (32768–60999),
 * where a busy host's own connections could hold one as a process starts.
 */
export const SERVICE_PORTS = {
  ingress: { ops: 9090 },
  governance: { ops: 9091, grpc: 9191 },
  routing: { ops: 9092, grpc: 9192 },
  caching: { ops: 9093, grpc: 9193 },
  audit: { ops: 9094, grpc: 9194 },
  metering: { ops: 9095, grpc: 9195 },
} as const satisfies Record<ServiceName, { ops: number; grpc?: number }>;

type GrpcService = Exclude<ServiceName, 'ingress'>;

/** Where other processes reach a service by default: this host, at its own gRPC port. */
export const defaultAddress = (service: GrpcService): string => `127.0.0.1:${SERVICE_PORTS[service].grpc}`;

/** The defaults in words, for the configuration reference. */
export const describePorts = (kind: 'ops' | 'grpc'): string =>
  Object.entries(SERVICE_PORTS)
    .flatMap(([name, ports]) => (kind in ports ? [`${name} ${(ports as Record<string, number>)[kind]}`] : []))
    .join(', ');

/**
 * A process's ops and gRPC ports: as configured, else the lowest default of
 * the services it runs (all of them in one process: 9090, and no gRPC).
 */
export function processPorts(server: { opsPort?: number; grpcPort?: number }, services: readonly ServiceName[]): { opsPort: number; grpcPort: number } {
  const grpc = services.filter((name): name is GrpcService => name !== 'ingress').map((name) => SERVICE_PORTS[name].grpc);
  return {
    opsPort: server.opsPort ?? Math.min(...services.map((name) => SERVICE_PORTS[name].ops)),
    // Ingress alone serves no gRPC: its port is never listened on.
    grpcPort: server.grpcPort ?? (grpc.length > 0 ? Math.min(...grpc) : SERVICE_PORTS.governance.grpc),
  };
}
