import { auditService } from '../audit/index.js';
import { cachingService } from '../caching/index.js';
import { governanceService } from '../governance/index.js';
import { ingressService } from '../ingress/index.js';
import { meteringService } from '../metering/index.js';
import { routingService } from '../routing/index.js';
import { SERVICE_NAMES, type ServiceDefinition, type ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';

/**
 * The one place that knows every service. Order is start order: services that
 * others call in-process come before their callers; they stop in reverse.
 */
export const MODULES: { [N in ServiceName]: ServiceDefinition<GatewayConfig[N]> } = {
  governance: governanceService,
  caching: cachingService,
  routing: routingService,
  audit: auditService,
  metering: meteringService,
  ingress: ingressService,
};

export const START_ORDER: ServiceName[] = ['governance', 'caching', 'routing', 'audit', 'metering', 'ingress'];

/** Named sets of services accepted by --services, besides single names. */
export const GROUPS: Record<string, ServiceName[]> = {
  all: [...SERVICE_NAMES],
  // Stateless request path vs. event persistence, for a two-tier deployment.
  'request-path': ['ingress', 'routing', 'caching', 'governance'],
  consumers: ['audit', 'metering'],
};

/** Parses "all", "ingress,routing", "request-path,audit" into service names, or throws naming the bad entry. */
export function parseServiceList(list: string): ServiceName[] {
  const selected = new Set<ServiceName>();
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const group = GROUPS[raw];
    if (group) group.forEach((name) => selected.add(name));
    else if ((SERVICE_NAMES as readonly string[]).includes(raw)) selected.add(raw as ServiceName);
    else {
      throw new Error(`--services: unknown service "${raw}"; expected names from ${SERVICE_NAMES.join(', ')} or groups ${Object.keys(GROUPS).join(', ')}`);
    }
  }
  if (selected.size === 0) throw new Error('--services: name at least one service');
  return START_ORDER.filter((name) => selected.has(name));
}
