import { natsAccessProblems } from '../kit/bus/nats-access.js';
import { SERVICE_NAMES, type ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';

const DATABASE_SERVICES: ServiceName[] = ['governance', 'routing', 'caching', 'audit', 'metering'];

/**
 * Refuses combinations that cannot work, naming the config key to set: the
 * in-process bus and the embedded database serve one process only, so a
 * subset of the services, or several workers, need NATS and PostgreSQL; and
 * a NATS connection needs credentials unless nats.insecure says otherwise.
 */
export function checkDeployment(config: GatewayConfig, services: ServiceName[]): void {
  const { workers } = config.server;
  const all = SERVICE_NAMES.every((name) => services.includes(name));
  checkGrpcSecurity(config, !all && services.some((name) => name !== 'ingress'));
  const who = workers > 1 ? `${workers} workers need` : all ? undefined : `running only ${services.join(',')} needs`;
  if (who && !config.nats.url) throw new Error(`${who} a shared event bus: set nats.url (or GATEWAY_NATS__URL); the in-process bus serves one process only`);
  if (who && !config.database.url && services.some((name) => DATABASE_SERVICES.includes(name))) {
    throw new Error(`${who} a shared database: set database.url (or GATEWAY_DATABASE__URL); the embedded database serves one process only`);
  }
  const nats = config.nats.url ? natsAccessProblems(config.nats) : [];
  if (nats.length > 0) throw new Error(nats.join('; '));
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * A process that serves gRPC beyond loopback does so over mutual TLS, or
 * because the operator said plaintext is acceptable there: otherwise any peer
 * on the network could call routing's Complete or read the audit log.
 */
function checkGrpcSecurity(config: GatewayConfig, servesGrpc: boolean): void {
  const { host, tls, insecureGrpc } = config.server;
  if (!servesGrpc || tls.ca || insecureGrpc || LOOPBACK.has(host)) return;
  throw new Error(
    `this process serves gRPC on ${host} without TLS: set server.tls.ca, server.tls.cert and server.tls.key (gateway certs init <dir> makes a development CA and certificates), or set server.insecureGrpc: true to accept plaintext gRPC that anyone on the network can call`,
  );
}
