import { natsAccessProblems } from '../kit/bus/nats-access.js';
import { SERVICE_NAMES, type ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';

const DATABASE_SERVICES: ServiceName[] = ['governance', 'caching', 'audit', 'metering'];

/**
 * Refuses combinations that cannot work, naming the config key to set: the
 * in-process bus and the embedded database serve one process only, so a
 * subset of the services, or several workers, need NATS and PostgreSQL; and
 * a NATS connection needs credentials unless nats.insecure says otherwise.
 */
export function checkDeployment(config: GatewayConfig, services: ServiceName[]): void {
  const { workers } = config.server;
  const all = SERVICE_NAMES.every((name) => services.includes(name));
  const who = workers > 1 ? `${workers} workers need` : all ? undefined : `running only ${services.join(',')} needs`;
  if (who && !config.nats.url) throw new Error(`${who} a shared event bus: set nats.url (or GATEWAY_NATS__URL); the in-process bus serves one process only`);
  if (who && !config.database.url && services.some((name) => DATABASE_SERVICES.includes(name))) {
    throw new Error(`${who} a shared database: set database.url (or GATEWAY_DATABASE__URL); the embedded database serves one process only`);
  }
  const nats = config.nats.url ? natsAccessProblems(config.nats) : [];
  if (nats.length > 0) throw new Error(nats.join('; '));
}
