/**
 * Kubernetes NetworkPolicy semantics, enough to say which connections a set of policies allows between the parties
 * of a test: a connection from A to B on a port is allowed when A's side allows it (no policy with Egress selects A,
 * or one of those that do has an egress rule matching B and the port) and B's side does (the same for Ingress). Rules
 * are additive; a rule without `to`/`from` matches every peer, without `ports` every port. A construct this model
 * does not know (matchExpressions operators aside, endPort, named ports that do not resolve) fails loudly rather
 * than being read as "allowed".
 */

export interface Party {
  name: string;
  /** The pod's labels; undefined for an address outside the cluster (matched by ipBlock only). */
  labels?: Record<string, string>;
  namespace: string;
  namespaceLabels: Record<string, string>;
  ip: string;
  /** Named container ports, for policies that name a port. */
  namedPorts?: Record<string, string>;
}

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: PolicyPort[];
}
export interface NetworkPolicy {
  metadata: { name: string; namespace: string };
  spec: { podSelector: Selector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}

export function selectorMatches(selector: Selector, labels: Record<string, string>): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return (
    byLabel &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      if (operator === 'In') return key in labels && values.includes(labels[key]!);
      if (operator === 'NotIn') return !(key in labels) || !values.includes(labels[key]!);
      if (operator === 'Exists') return key in labels;
      if (operator === 'DoesNotExist') return !(key in labels);
      throw new Error(`matchExpressions operator ${operator} is not modelled`);
    })
  );
}

/** IPv4 only: the parties have IPv4 addresses, so an IPv6 block matches none of them. */
function inCidr(ip: string, cidr: string): boolean {
  if (cidr.includes(':')) return false;
  const [base = '', bits = '32'] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

function peerMatches(peer: Peer, party: Party, policyNamespace: string): boolean {
  if (peer.ipBlock) {
    // ipBlock is for addresses outside the cluster; pods are matched by selectors (and here never by address).
    return !party.labels && inCidr(party.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(party.ip, c));
  }
  if (!party.labels) return false;
  const namespaceOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, party.namespaceLabels) : party.namespace === policyNamespace;
  return namespaceOk && (!peer.podSelector || selectorMatches(peer.podSelector, party.labels));
}

/** A port as "TCP/8080"; a policy's named port is resolved on the destination pod. */
function portMatches(ports: PolicyPort[] | undefined, port: string, destination: Party): boolean {
  if (!ports) return true;
  return ports.some((p) => {
    if (p.endPort !== undefined) throw new Error('endPort is not modelled');
    const number = typeof p.port === 'string' ? destination.namedPorts?.[p.port] : p.port;
    if (typeof p.port === 'string' && number === undefined) throw new Error(`named port ${p.port} is not a port of ${destination.name}`);
    return number === undefined ? port.startsWith(`${p.protocol ?? 'TCP'}/`) : port === `${p.protocol ?? 'TCP'}/${number}`;
  });
}

function sideAllows(policies: NetworkPolicy[], self: Party, other: Party, port: string, destination: Party, type: 'Ingress' | 'Egress'): boolean {
  if (!self.labels) return true; // Outside the cluster: not governed by these policies.
  const selecting = policies.filter(
    (p) => p.metadata.namespace === self.namespace && selectorMatches(p.spec.podSelector, self.labels!) && (p.spec.policyTypes ?? ['Ingress']).includes(type),
  );
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    ((type === 'Ingress' ? policy.spec.ingress : policy.spec.egress) ?? []).some((rule) => {
      const peers = type === 'Ingress' ? rule.from : rule.to;
      return (!peers || peers.some((peer) => peerMatches(peer, other, policy.metadata.namespace))) && portMatches(rule.ports, port, destination);
    }),
  );
}

/** Whether the policies let `from` open a connection to `to` on `port` ("TCP/4222"). */
export function allows(policies: NetworkPolicy[], from: Party, to: Party, port: string): boolean {
  return sideAllows(policies, from, to, port, to, 'Egress') && sideAllows(policies, to, from, port, to, 'Ingress');
}
