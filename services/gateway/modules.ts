import { auditService } from '../audit/index.js';
import { cachingService } from '../caching/index.js';
import { governanceService } from '../governance/index.js';
import { ingressService } from '../ingress/index.js';
import { meteringService } from '../metering/index.js';
import { routingService } from '../routing/index.js';
import type { ServiceDefinition, ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';

/**
 * The one place that knows every service's code, imported only where services
 * run (runtime.ts): the CLI's other commands and a --workers primary do
 * without it. Start order and groups are in service-list.ts.
 */
export const MODULES: { [N in ServiceName]: ServiceDefinition<GatewayConfig[N]> } = {
  governance: governanceService,
  caching: cachingService,
  routing: routingService,
  audit: auditService,
  metering: meteringService,
  ingress: ingressService,
};
