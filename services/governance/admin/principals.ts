import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../kit/errors.js';
import type { Logger } from '../../kit/log.js';
import { secretsEqual } from '../../kit/secrets/keys.js';
import { weakTokenProblem } from '../../kit/token-strength.js';
import type { GovernanceConfig, Role } from '../config.js';

/** Who is calling the admin API, with what role, limited to which customer or team. */
export interface Principal {
  name: string;
  role: Role;
  customer?: string;
  team?: string;
}

/** What a route needs: to read or change governance entities, or to read the audit log. */
export type Permission = 'read' | 'write' | 'manage_customers' | 'manage_routing' | 'audit';

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(['read', 'write', 'manage_customers', 'manage_routing', 'audit']),
  admin: new Set(['read', 'write', 'manage_routing']),
  viewer: new Set(['read']),
  auditor: new Set(['audit']),
};

const WHAT: Record<Permission, string> = {
  read: 'read governance settings',
  write: 'change governance settings',
  manage_customers: 'create or delete customers',
  manage_routing: 'change providers and models',
  audit: 'read the audit log',
};

export function requirePermission(principal: Principal, permission: Permission): void {
  if (!GRANTS[principal.role].has(permission)) {
    throw new GatewayError('admin_forbidden', `The ${principal.role} role may not ${WHAT[permission]}.`);
  }
  if ((permission === 'manage_customers' || permission === 'manage_routing') && (principal.customer || principal.team)) {
    throw new GatewayError('admin_forbidden', `A token limited to one customer or team may not ${WHAT[permission]}.`);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The caller of an admin route, once it is known to hold the permission the route needs. */
export function caller(request: FastifyRequest, permission: Permission): Principal {
  requirePermission(request.principal!, permission);
  return request.principal!;
}

/** Records an admin change as an event, with the entity before and after. */
export type RecordChange = (who: Principal, resource: string, action: string, id: string, before: object | undefined, after: object | undefined) => void;

/** Where an entity belongs, for scoped principals. */
export interface Placement {
  customer: string | null;
  team: string | null;
}

export function canSee(principal: Principal, place: Placement): boolean {
  if (principal.team) return place.team === principal.team;
  if (principal.customer) return place.customer === principal.customer;
  return true;
}

/**
 * Whether the principal may set, change or remove a budget on this scope:
 * only from above it, so a team's admin cannot lift the budget its customer
 * (or the gateway's operator) set on it, nor a customer's admin the customer's.
 */
export function governsBudgetOn(principal: Principal, scope: 'key' | 'team' | 'customer'): boolean {
  if (principal.team) return scope === 'key';
  if (principal.customer) return scope !== 'customer';
  return true;
}

export const ADMIN_TOKEN_FILE = 'admin-token';

/** The configured owner token, or the one generated into the data folder on first start. */
export function resolveOwnerToken(config: GovernanceConfig, dataDir: string, log: Logger): string | undefined {
  if (config.adminToken) return config.adminToken;
  if (config.adminTokens.length > 0) return undefined;
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) return readTokenFile(file);
  mkdirSync(dataDir, { recursive: true });
  // Written aside and linked into place: workers starting together agree on one token, and none reads a half-written file.
  const draft = `${file}.${process.pid}`;
  writeFileSync(draft, `gw-admin-${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
    log.warn({ file }, 'governance.adminToken is not set: generated an owner token into this file');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(draft);
  }
  return readTokenFile(file);
}

/** The token in the file; one an operator wrote there is held to the same standard as one in config. */
function readTokenFile(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  const problem = weakTokenProblem(token);
  if (problem) throw new Error(`the admin token in ${file} ${problem} (or delete the file, and a strong one is generated at start)`);
  return token;
}

/** Static bearer tokens from config; every one is compared, in constant time. */
export class TokenAuthenticator {
  private readonly tokens: { token: string; principal: Principal }[];

  constructor(config: GovernanceConfig, ownerToken: string | undefined) {
    this.tokens = config.adminTokens.map(({ token, name, role, customer, team }) => ({ token, principal: { name, role, customer, team } }));
    if (ownerToken) this.tokens.push({ token: ownerToken, principal: { name: 'admin-token', role: 'owner' } });
  }

  find(presented: string): Principal | undefined {
    let found: Principal | undefined;
    for (const { token, principal } of this.tokens) if (secretsEqual(presented, token)) found = principal;
    return found;
  }
}
