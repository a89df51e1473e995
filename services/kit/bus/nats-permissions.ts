import { SERVICE_NAMES, type ServiceName } from '../service.js';
import { subjectMatches } from './types.js';

/**
 * What each service does on the bus, and the NATS permissions that allows and
 * nothing more. `gateway nats config` renders a nats-server user per service
 * from it (deploy/nats/users.conf), and the publisher refuses an event its
 * service does not declare here, so embedded mode fails where NATS would.
 */

export interface Durable {
  name: string;
  /** Event types, as one subject pattern. */
  filter: string;
}

export interface BusUse {
  /** Event types it publishes, as subject patterns. */
  publishes?: readonly string[];
  /** Its durable consumers. */
  durables?: readonly Durable[];
  /** Event types it hears as a broadcast (EventBus.subscribe). */
  broadcasts?: readonly string[];
  /** Brings an existing stream's settings to the configured ones; the others only create it when it is missing. */
  updatesStream?: boolean;
}

export const BUS_USE: Readonly<Record<ServiceName, BusUse>> = {
  ingress: {
    publishes: ['request.received', 'request.completed', 'request.failed', 'request.rejected', 'upstream.attempt', 'tool.called', 'code.executed'],
    // Changes of the storage policies it applies, and no other admin event (they carry the entries before and after).
    broadcasts: ['admin.guardrail_storage_policy.*', 'admin.guardrail_storage_attachment.*'],
  },
  caching: {},
  governance: { publishes: ['admin.>', 'auth.failed'], broadcasts: ['admin.>'] },
  // The semantic cache's embedding calls are requests of their own, billed to the caller's key.
  routing: { publishes: ['request.completed', 'request.failed'], broadcasts: ['admin.>'] },
  // The stream holds the audit trail until audit has it, so audit alone sets how long it keeps events.
  // Its checkpoints of the chain's head go out to the SIEM sinks; the audit log leaves them out.
  audit: { publishes: ['audit.checkpoint'], durables: [{ name: 'audit', filter: '>' }], updatesStream: true },
  // Its expiries of the ledgers and rollups, for the audit log.
  metering: {
    publishes: ['ledger.expired'],
    durables: [
      { name: 'metering', filter: 'request.*' },
      { name: 'metering_tools', filter: 'tool.*' },
    ],
  },
};

/** Whether a service may publish events of a type. */
export function mayPublish(service: string, type: string): boolean {
  const use: BusUse | undefined = BUS_USE[service as ServiceName];
  return use?.publishes?.some((pattern) => subjectMatches(pattern, type)) ?? false;
}

/** The NATS user of a process that runs these services: their names, joined by "_" (e.g. "ingress", "audit_metering"). */
export function natsUserName(services: readonly ServiceName[]): string {
  return SERVICE_NAMES.filter((name) => services.includes(name)).join('_');
}

/** Where a process's replies arrive; its own, so no other service's user may read them. */
export function inboxPrefix(services: readonly ServiceName[]): string {
  return `_INBOX.${natsUserName(services)}`;
}

export interface StreamNames {
  stream: string;
  subjectPrefix: string;
}

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/**
 * The subjects a process running these services must publish and subscribe
 * to. `configured`: durable consumers a service runs by configuration (audit's
 * SIEM sinks). Consumer names are granted exactly, with their filter in the
 * subject, so a user can neither read another's durable nor make its own read
 * more; broadcasts are ephemeral push consumers, whose random names need a
 * wildcard, with the filter still fixed.
 */
export function natsPermissions(
  services: readonly ServiceName[],
  { stream, subjectPrefix }: StreamNames,
  configured: Partial<Record<ServiceName, Durable[]>> = {},
): NatsPermissions {
  const events = (pattern: string) => `${subjectPrefix}.events.${pattern}`;
  // Account info (the client checks JetStream is on), and the one stream: read, or made when missing.
  const publish = new Set(['$JS.API.INFO', `$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`]);
  for (const service of SERVICE_NAMES.filter((name) => services.includes(name))) {
    const use = BUS_USE[service];
    for (const type of use.publishes ?? []) publish.add(events(type));
    if (use.updatesStream) publish.add(`$JS.API.STREAM.UPDATE.${stream}`);
    for (const filter of use.broadcasts ?? []) {
      publish.add(`$JS.API.CONSUMER.CREATE.${stream}.*.${events(filter)}`);
      // Answers to the server's flow-control requests of a push consumer.
      publish.add(`$JS.FC.${stream}.>`);
    }
    for (const { name, filter } of [...(use.durables ?? []), ...(configured[service] ?? [])]) {
      publish.add(`$JS.API.CONSUMER.INFO.${stream}.${name}`);
      publish.add(`$JS.API.CONSUMER.CREATE.${stream}.${name}.${events(filter)}`);
      publish.add(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`);
      publish.add(`$JS.ACK.${stream}.${name}.>`);
    }
  }
  return { publish: [...publish], subscribe: [`${inboxPrefix(services)}.>`] };
}
