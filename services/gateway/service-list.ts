import { SERVICE_NAMES, type ServiceName } from '../kit/service.js';

/**
 * How a process's services are listed where the list names something kept (its spool folder, its certificate's
 * subject), so those names stay as earlier versions made them. The order they start in comes from their
 * declarations (clients.ts, startOrder).
 */
const LISTED_ORDER: ServiceName[] = ['governance', 'caching', 'routing', 'audit', 'metering', 'ingress'];

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
  for (const raw of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const group = GROUPS[raw];
    if (group) group.forEach((name) => selected.add(name));
    else if ((SERVICE_NAMES as readonly string[]).includes(raw)) selected.add(raw as ServiceName);
    else {
      throw new Error(`--services: unknown service "${raw}"; expected names from ${SERVICE_NAMES.join(', ')} or groups ${Object.keys(GROUPS).join(', ')}`);
    }
  }
  if (selected.size === 0) throw new Error('--services: name at least one service');
  return LISTED_ORDER.filter((name) => selected.has(name));
}
