import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';
import { BUILT_IN_HOSTS } from './providers/catalog.js';
import { providerBaseUrl, type ProviderConfig } from './providers/registry.js';

/**
 * What the operator lets providers added through the admin API use (routing.adminProviders): the hosts they may
 * point at, and the secret references they may name, each with the hosts its value may be sent to. Providers in
 * the config file are the operator's own and are not checked. See docs/security.md.
 */

/** A host name where * stands for one DNS label or part of one, as in a TLS certificate; or an IP address. */
const hostPattern = z.string().refine((pattern) => canonicalHost(pattern) !== undefined, {
  message: 'expected a host name, a host pattern with * or an IP address (no port, path or user)',
});

export const adminProvidersConfig = z
  .strictObject({
    hosts: z
      .array(hostPattern)
      .default([...BUILT_IN_HOSTS])
      .describe(
        'Hosts that providers added through the admin API may point at: names, where * stands for one DNS label or part of one (*.openai.azure.com), or IP addresses. A name allowed only through a * pattern must resolve to public addresses, checked at every connection; a name or address listed as it is may be internal. Default: the public API hosts of the built-in provider types.',
      ),
    secretReferences: z
      .array(
        z.strictObject({
          reference: z
            .string()
            .regex(/^(env|file|vault):./, 'an env:, file: or vault: reference, where * stands for any characters but /')
            .describe(
              'A secret reference admins may use, where * stands for any characters but /: env:OPENAI_API_KEY, vault:secret/llm-providers/*, file:/etc/gateway/llm/*.',
            ),
          hosts: z
            .array(hostPattern)
            .min(1)
            .describe('Hosts (patterns as in adminProviders.hosts) the secret may be sent to: a provider that uses it must point at one of them.'),
        }),
      )
      .default([])
      .describe(
        'Secret references that providers added through the admin API may use, each with the hosts its value may be sent to. None by default: such providers then take no credential.',
      ),
  })
  .prefault({});

export type AdminProvidersConfig = z.infer<typeof adminProvidersConfig>;

/** A credential field of a provider entry: where it is (for messages) and its value (a reference or a literal). */
export interface CredentialField {
  at: string;
  value: string;
}

/** How an admin-API reference may look: no %-escapes, ? or other characters a path or URL would read differently. */
const PLAIN_REFERENCE = /^(env|file|vault):[A-Za-z0-9_.\-/#]+$/;

export class AdminProviderPolicy {
  private readonly hosts: HostPatterns;
  private readonly references: { pattern: RegExp; hosts: HostPatterns }[];

  constructor(config: AdminProvidersConfig) {
    this.hosts = new HostPatterns(config.hosts);
    this.references = config.secretReferences.map(({ reference, hosts }) => ({ pattern: referencePattern(reference), hosts: new HostPatterns(hosts) }));
  }

  /**
   * What the operator does not allow in an admin-managed provider: a host not allowed, a credential reference
   * not allowed for that host. Nothing is read: a refused reference gets the same words whether or not its
   * target exists.
   */
  problems(at: string, config: ProviderConfig, credentials: CredentialField[]): string[] {
    const problems: string[] = [];
    if (config.type === 'vertex' && config.serviceAccountFile) {
      problems.push(`${at}.serviceAccountFile: not available through the admin API; give serviceAccount as a secret reference`);
    }
    const baseUrl = providerBaseUrl(config);
    if (baseUrl === undefined) return problems;
    const host = hostOf(baseUrl);
    if (!this.hosts.allows(host))
      problems.push(`${at}: ${host} is not a host the operator allows providers added through the admin API to use (routing.adminProviders.hosts)`);
    for (const credential of credentials) {
      if (!this.allowsReference(credential.value, host)) {
        problems.push(`${credential.at}: the operator does not allow this secret reference to be sent to ${host} (routing.adminProviders.secretReferences)`);
      }
    }
    return problems;
  }

  /**
   * Host name resolution for admin-managed providers' connections, so the address checked is the address used
   * (no DNS rebinding between the two): a name the operator did not list as it is must resolve to public
   * addresses only. IP addresses never come here; they must be listed as they are.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    if (this.hosts.names(hostname)) return dnsLookup(hostname, options, callback);
    dnsLookup(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const internal = (typeof address === 'string' ? [address] : address.map((a) => a.address)).find(isInternalAddress);
      if (internal === undefined) return callback(null, address, family);
      const refused: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to ${internal}, an internal address; only a host listed as it is in routing.adminProviders.hosts may`,
      );
      refused.code = 'EACCES';
      callback(refused, '');
    });
  };

  private allowsReference(value: string, host: string): boolean {
    if (
      !PLAIN_REFERENCE.test(value) ||
      value
        .slice(value.indexOf(':') + 1)
        .split(/[/#]/)
        .some((segment) => segment === '.' || segment === '..')
    )
      return false;
    return this.references.some(({ pattern, hosts }) => pattern.test(value) && hosts.allows(host));
  }
}

/** A list of host patterns, compiled once. */
class HostPatterns {
  private readonly exact: Set<string>;
  private readonly wildcards: RegExp[];

  constructor(patterns: readonly string[]) {
    const hosts = patterns.map((pattern) => canonicalHost(pattern)!);
    this.exact = new Set(hosts.filter((p) => !p.includes('*')));
    this.wildcards = hosts.filter((p) => p.includes('*')).map((p) => new RegExp(`^${p.split('*').map(escapeRegExp).join('[^.]+')}$`));
  }

  /** Whether the host (as a URL's hostname gives it) is allowed; a * pattern never stands for an IP address. */
  allows(host: string): boolean {
    return this.names(host) || (isIP(host) === 0 && this.wildcards.some((pattern) => pattern.test(host)));
  }

  /** Whether the host is listed as it is. */
  names(host: string): boolean {
    return this.exact.has(host);
  }
}

/** Addresses that are not on the public internet: no admin-managed provider connects to one unless its host is listed as it is. */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 included
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, where cloud metadata services answer
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast included
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and the old IPv4-compatible form (IPv4-mapped addresses are checked as IPv4)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local
  ['ff00::', 8], // multicast
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}

export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  return family === 0 || INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * A host pattern as a URL's hostname gives a host (lower case, an IP address in one form), to be compared with
 * one; undefined when it is no host name, pattern or IP address.
 */
function canonicalHost(pattern: string): string | undefined {
  const bare = pattern.replace(/^\[(.*)\]$/, '$1');
  if (/^[A-Za-z0-9*._-]+$/.test(bare) && bare.includes('*')) return bare.toLowerCase();
  const url = isIP(bare) === 6 || /^[A-Za-z0-9._-]+$/.test(bare) ? URL.parse(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}`) : null;
  return url ? hostOf(url) : undefined;
}

/** A URL's host name without an IPv6 address's brackets. */
function hostOf(url: string | URL): string {
  return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
}

function referencePattern(reference: string): RegExp {
  return new RegExp(`^${reference.split('*').map(escapeRegExp).join('[^/]*')}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
