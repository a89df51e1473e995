import { SERVICE_NAMES, type ServiceName } from '../kit/service.js';

/** Start order: services that others call in-process come before their callers; they stop in reverse. */
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
