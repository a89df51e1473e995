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
 * policies it applies on the request path; ingress the guardrails, whose storage policies it applies to records, and
 * the console's origins when this process serves the console, which its CORS allows (docs/console.md); audit the key
 * those policies hash with, to hash an auditor's value the same way.
 */
type ServiceConfig<N extends ServiceName> = N extends 'routing'
  ? GatewayConfig['routing'] & { cache: GatewayConfig['caching']; guardrails: GatewayConfig['guardrails'] }
  : N extends 'ingress'
    ? GatewayConfig['ingress'] & { guardrails: GatewayConfig['guardrails']; consoleOrigins: string[] }
    : N extends 'audit'
      ? GatewayConfig['audit'] & { storageHashKey: string | undefined }
      : GatewayConfig[N];

export function serviceConfig<N extends ServiceName>(name: N, config: GatewayConfig, services: ServiceName[]): ServiceConfig<N> {
  if (name === 'routing') return { ...config.routing, cache: config.caching, guardrails: config.guardrails } as ServiceConfig<N>;
  if (name === 'ingress') {
    const consoleOrigins = services.includes('governance') ? consoleOriginsOf(config) : [];
    return { ...config.ingress, guardrails: config.guardrails, consoleOrigins } as ServiceConfig<N>;
  }
  if (name === 'audit') return { ...config.audit, storageHashKey: config.guardrails.storage.hashKey } as ServiceConfig<N>;
  return config[name] as ServiceConfig<N>;
}

/**
 * Where a browser finds the console this process serves: the admin port on this machine's loopback names, and on
 * server.host when it is one address. Bound to every interface (0.0.0.0), the names the machine is reached by are
 * unknown: ingress.cors.allowedOrigins lists them. A port of 0 (chosen at start) has no origin known beforehand.
 */
function consoleOriginsOf(config: GatewayConfig): string[] {
  const port = config.governance.adminPort;
  if (port === 0) return [];
  const host = config.server.host;
  const hosts = ['127.0.0.1', 'localhost', '[::1]'];
  if (!['0.0.0.0', '::', '127.0.0.1', 'localhost', '::1'].includes(host)) hosts.push(host.includes(':') ? `[${host}]` : host);
  return hosts.map((h) => `http://${h}:${port}`);
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
