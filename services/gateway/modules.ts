import { auditService } from '../audit/index.js';
import { cachingService } from '../caching/index.js';
import { governanceService } from '../governance/index.js';
import { ingressService } from '../ingress/index.js';
import { meteringService } from '../metering/index.js';
import { routingService } from '../routing/index.js';
import type { CalleeName, ServiceDefinition, ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';

/**
 * What each service's init is given: its config section; routing also the caching and guardrails ones, whose
 * policies it applies on the request path; ingress the guardrails, whose storage policies it applies to records;
 * audit the key those policies hash with, to hash an auditor's value the same way.
 */
type ServiceConfig<N extends ServiceName> = N extends 'routing'
  ? GatewayConfig['routing'] & { cache: GatewayConfig['caching']; guardrails: GatewayConfig['guardrails'] }
  : N extends 'ingress'
    ? GatewayConfig['ingress'] & { guardrails: GatewayConfig['guardrails'] }
    : N extends 'audit'
      ? GatewayConfig['audit'] & { storageHashKey: string | undefined }
      : GatewayConfig[N];

export function serviceConfig<N extends ServiceName>(name: N, config: GatewayConfig): ServiceConfig<N> {
  if (name === 'routing') return { ...config.routing, cache: config.caching, guardrails: config.guardrails } as ServiceConfig<N>;
  if (name === 'ingress') return { ...config.ingress, guardrails: config.guardrails } as ServiceConfig<N>;
  if (name === 'audit') return { ...config.audit, storageHashKey: config.guardrails.storage.hashKey } as ServiceConfig<N>;
  return config[name] as ServiceConfig<N>;
}

/**
 * The one place that knows every service's code, imported only where services
 * run (runtime.ts): the CLI's other commands and a --workers primary do
 * without it. Start order comes from their dependsOn (startOrder); groups are in service-list.ts.
 */
// biome-ignore lint/suspicious/noExplicitAny: each service serves a contract of its own type; the root only hands it to the gRPC server
export const MODULES: { [N in ServiceName]: ServiceDefinition<ServiceConfig<N>, CalleeName, any> } = {
  governance: governanceService,
  caching: cachingService,
  routing: routingService,
  audit: auditService,
  metering: meteringService,
  ingress: ingressService,
};
