import type { FastifyPluginAsync } from 'fastify';
import { GatewayError } from './errors.js';

/**
 * The admin API's contract between the admin server (run by the root where
 * governance runs) and each service's admin routes: who the caller is, what a
 * route requires of them, and what governance lends other services' routes.
 * A route declares what it requires in its options, `config: { requires }`;
 * the server authenticates and checks it before the handler runs.
 */

export const ROLES = ['owner', 'admin', 'viewer', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling the admin API, with what role, limited to which customer or team. */
export interface Principal {
  name: string;
  role: Role;
  customer?: string;
  team?: string;
}

/** What a route needs: to read or change governance entities, or to read the audit log. */
export type Permission = 'read' | 'write' | 'manage_customers' | 'manage_routing' | 'manage_retention' | 'read_retention' | 'audit';

/** What a route requires: a permission, any signed-in caller, or no admin token at all (a browser redirect). */
export type Requirement = Permission | 'any_role' | 'no_token';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin server on every route that needs a token. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Every admin route says what it requires; the admin server refuses to start with one that does not. */
    requires?: Requirement;
  }
}

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(['read', 'write', 'manage_customers', 'manage_routing', 'manage_retention', 'read_retention', 'audit']),
  admin: new Set(['read', 'write', 'manage_routing', 'manage_retention', 'read_retention']),
  viewer: new Set(['read']),
  auditor: new Set(['read_retention', 'audit']),
};

const WHAT: Record<Permission, string> = {
  read: 'read governance settings',
  write: 'change governance settings',
  manage_customers: 'create or delete customers',
  manage_routing: 'change providers, models and guardrails',
  manage_retention: 'set retention or legal holds',
  read_retention: 'read retention settings and legal holds',
  audit: 'read the audit log',
};

/** Permissions over every tenant at once: retention lists every team's and customer's settings and holds (and a hold's reason). */
const UNSCOPED_ONLY: ReadonlySet<Permission> = new Set(['manage_customers', 'manage_routing', 'manage_retention', 'read_retention']);

/** Why the principal may not use the permission, or undefined when it may. */
function refusal(principal: Principal, permission: Permission): string | undefined {
  if (!GRANTS[principal.role].has(permission)) return `The ${principal.role} role may not ${WHAT[permission]}.`;
  if (UNSCOPED_ONLY.has(permission) && (principal.customer || principal.team)) return `A token limited to one customer or team may not ${WHAT[permission]}.`;
  return undefined;
}

export function requirePermission(principal: Principal, permission: Permission): void {
  const reason = refusal(principal, permission);
  if (reason) throw new GatewayError('admin_forbidden', reason);
}

/** Every permission the principal holds, so a client (the console) shows only what the server would allow. */
export function permissionsOf(principal: Principal): Permission[] {
  return (Object.keys(WHAT) as Permission[]).filter((permission) => !refusal(principal, permission));
}

/** The caller as /admin/whoami and a console sign-in describe it: who, in what scope, allowed what. */
export function callerView(principal: Principal): Principal & { permissions: Permission[] } {
  return { ...principal, permissions: permissionsOf(principal) };
}

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

/** A report query narrowed to the caller: a token scoped to a team or customer only ever reads that team's or customer's records. */
export function scopedQuery<T extends { teamId: string; customerId: string }>(who: Principal, query: T): T {
  if (who.team && query.teamId && query.teamId !== who.team) throw new GatewayError('admin_forbidden', `This token may only read team ${who.team}.`);
  if (who.customer && query.customerId && query.customerId !== who.customer)
    throw new GatewayError('admin_forbidden', `This token may only read customer ${who.customer}.`);
  return { ...query, teamId: who.team ?? query.teamId, customerId: who.customer ?? query.customerId };
}

/** Records an admin change as an event, with the entity before and after. */
export type RecordChange = (who: Principal, resource: string, action: string, id: string, before: object | undefined, after: object | undefined) => void;

/** Where governance's teams and keys sit (undefined: no such one), so other services' routes can keep scoped tokens to their own. */
export interface Placements {
  team(id: string): Placement | undefined;
  key(id: string): Placement | undefined;
}

/** Turns a bearer token into a principal, or undefined when it is not one. */
export type Authenticate = (token: string) => Promise<Principal | undefined>;

/**
 * Console sessions: a random id, kept in an HTTP-only cookie, that stands for
 * the principal of the admin token it was opened with until it expires or is
 * closed. Stored where every replica and worker of governance finds it.
 */
export interface AdminSessions {
  /** Opens a session for the token's principal; undefined when the token is not an admin's. */
  open(token: string): Promise<{ id: string; principal: Principal; expiresAt: Date } | undefined>;
  /** The principal a live session stands for now. */
  find(id: string): Promise<Principal | undefined>;
  close(id: string): Promise<void>;
}

/** The console's OpenID Connect callback on the admin server, registered at the identity provider. */
export const OIDC_CALLBACK_PATH = '/admin/session/oidc/callback';

/** Why a browser sign-in was refused, as the sign-in page words it (never the provider's own words, nor any token). */
export type SignInRefusal = 'state' | 'denied' | 'token' | 'role' | 'unavailable';

/**
 * The console's sign-in through the browser at an OpenID Connect issuer
 * (authorization code with PKCE). The admin server keeps what `start` returns
 * as `pending` in the browser until the issuer sends it back to the callback.
 */
export interface BrowserSignIn {
  /** Where to send the browser, and what to keep for the callback (state, nonce, verifier). */
  start(): Promise<{ location: string; pending: string }>;
  /** The session the callback's code opens, or why it opens none (reason: for the audit log, holding no secret). */
  finish(
    query: Record<string, string | undefined>,
    pending: string | undefined,
  ): Promise<{ session: { id: string; principal: Principal; expiresAt: Date } } | { refused: SignInRefusal; reason: string }>;
}

/** What governance, which knows the admins, gives the admin server. */
export interface AdminAuthority {
  port: number;
  authenticate: Authenticate;
  sessions: AdminSessions;
  /** Set when governance.sso.console is configured. */
  browserSignIn: BrowserSignIn | undefined;
  /** Governance's own routes: customers, teams, keys, budgets. */
  routes: FastifyPluginAsync<{ record: RecordChange }>;
  placements: Placements;
}
