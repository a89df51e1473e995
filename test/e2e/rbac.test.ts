import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startInProcess } from '../harness/gateway.js';
import { testToken } from '../harness/infra.js';

const TOKENS = {
  owner: testToken('owner'),
  admin: testToken('admin'),
  viewer: testToken('viewer'),
  auditor: testToken('auditor'),
} as const;
const ACME_ADMIN = testToken('acme-admin');
type Role = keyof typeof TOKENS;
const ROLES = Object.keys(TOKENS) as Role[];

interface Route {
  name: string;
  /** Sets up what the call needs (as the owner) and returns the call. */
  prepare(adminUrl: string, n: number): Promise<{ method: string; path: string; body?: unknown }>;
  /** Roles that may make the call; the others get 403. */
  allowed: Role[];
}

const owner = (adminUrl: string, method: string, path: string, body?: unknown) => admin<{ id: string }>(adminUrl, method, path, body);
const READERS: Role[] = ['owner', 'admin', 'viewer'];
const WRITERS: Role[] = ['owner', 'admin'];

// Each role × each admin route. Entities are made fresh for every call, so a
// route's outcome depends only on the caller's role.
const ROUTES: Route[] = [
  { name: 'GET /admin/whoami', allowed: ROLES, prepare: async () => ({ method: 'GET', path: '/admin/whoami' }) },
  { name: 'GET /admin/customers', allowed: READERS, prepare: async () => ({ method: 'GET', path: '/admin/customers' }) },
  { name: 'POST /admin/customers', allowed: ['owner'], prepare: async (_u, n) => ({ method: 'POST', path: '/admin/customers', body: { id: `c-new-${n}`, name: 'New' } }) },
  { name: 'GET /admin/customers/:id', allowed: READERS, prepare: async (u, n) => ({ method: 'GET', path: `/admin/customers/${(await owner(u, 'POST', '/admin/customers', { id: `c-get-${n}`, name: 'C' })).id}` }) },
  { name: 'PATCH /admin/customers/:id', allowed: WRITERS, prepare: async (u, n) => ({ method: 'PATCH', path: `/admin/customers/${(await owner(u, 'POST', '/admin/customers', { id: `c-patch-${n}`, name: 'C' })).id}`, body: { name: 'Renamed' } }) },
  { name: 'DELETE /admin/customers/:id', allowed: ['owner'], prepare: async (u, n) => ({ method: 'DELETE', path: `/admin/customers/${(await owner(u, 'POST', '/admin/customers', { id: `c-del-${n}`, name: 'C' })).id}` }) },
  { name: 'GET /admin/teams', allowed: READERS, prepare: async () => ({ method: 'GET', path: '/admin/teams' }) },
  { name: 'POST /admin/teams', allowed: WRITERS, prepare: async (_u, n) => ({ method: 'POST', path: '/admin/teams', body: { id: `t-new-${n}`, name: 'T' } }) },
  { name: 'GET /admin/teams/:id', allowed: READERS, prepare: async (u, n) => ({ method: 'GET', path: `/admin/teams/${(await owner(u, 'POST', '/admin/teams', { id: `t-get-${n}`, name: 'T' })).id}` }) },
  { name: 'PATCH /admin/teams/:id', allowed: WRITERS, prepare: async (u, n) => ({ method: 'PATCH', path: `/admin/teams/${(await owner(u, 'POST', '/admin/teams', { id: `t-patch-${n}`, name: 'T' })).id}`, body: { rpm_limit: 10 } }) },
  { name: 'DELETE /admin/teams/:id', allowed: WRITERS, prepare: async (u, n) => ({ method: 'DELETE', path: `/admin/teams/${(await owner(u, 'POST', '/admin/teams', { id: `t-del-${n}`, name: 'T' })).id}` }) },
  { name: 'GET /admin/keys', allowed: READERS, prepare: async () => ({ method: 'GET', path: '/admin/keys' }) },
  { name: 'POST /admin/keys', allowed: WRITERS, prepare: async () => ({ method: 'POST', path: '/admin/keys', body: { name: 'k' } }) },
  { name: 'GET /admin/keys/:id', allowed: READERS, prepare: async (u) => ({ method: 'GET', path: `/admin/keys/${(await owner(u, 'POST', '/admin/keys', { name: 'k' })).id}` }) },
  { name: 'PATCH /admin/keys/:id', allowed: WRITERS, prepare: async (u) => ({ method: 'PATCH', path: `/admin/keys/${(await owner(u, 'POST', '/admin/keys', { name: 'k' })).id}`, body: { allowed_models: ['mock/*'] } }) },
  { name: 'POST /admin/keys/:id/rotate', allowed: WRITERS, prepare: async (u) => ({ method: 'POST', path: `/admin/keys/${(await owner(u, 'POST', '/admin/keys', { name: 'k' })).id}/rotate` }) },
  { name: 'POST /admin/keys/:id/revoke', allowed: WRITERS, prepare: async (u) => ({ method: 'POST', path: `/admin/keys/${(await owner(u, 'POST', '/admin/keys', { name: 'k' })).id}/revoke` }) },
  { name: 'GET /admin/budgets', allowed: READERS, prepare: async () => ({ method: 'GET', path: '/admin/budgets' }) },
  { name: 'POST /admin/budgets', allowed: WRITERS, prepare: async (u) => ({ method: 'POST', path: '/admin/budgets', body: { scope: 'key', scope_id: (await owner(u, 'POST', '/admin/keys', { name: 'k' })).id, limit_usd: 5, period: 'month' } }) },
  { name: 'GET /admin/providers', allowed: READERS, prepare: async () => ({ method: 'GET', path: '/admin/providers' }) },
  { name: 'PUT /admin/models/:name', allowed: WRITERS, prepare: async (_u, n) => ({ method: 'PUT', path: `/admin/models/alias-${n}`, body: 'mock/echo' }) },
  {
    name: 'DELETE /admin/models/:name',
    allowed: WRITERS,
    prepare: async (u, n) => {
      await admin(u, 'PUT', `/admin/models/gone-${n}`, 'mock/echo');
      return { method: 'DELETE', path: `/admin/models/gone-${n}` };
    },
  },
  ...(['GET', 'PATCH', 'DELETE'] as const).map((method): Route => ({
    name: `${method} /admin/budgets/:id`,
    allowed: method === 'GET' ? READERS : WRITERS,
    prepare: async (u) => {
      const key = await owner(u, 'POST', '/admin/keys', { name: 'k' });
      const budget = await owner(u, 'POST', '/admin/budgets', { scope: 'key', scope_id: key.id, limit_usd: 5, period: 'day' });
      return { method, path: `/admin/budgets/${budget.id}`, body: method === 'PATCH' ? { limit_usd: 7 } : undefined };
    },
  })),
];

describe('admin API: every role on every route', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    gateway = await startInProcess({
      governance: {
        adminTokens: [
          ...ROLES.map((role) => ({ name: `${role}-bot`, token: TOKENS[role], role })),
          { name: 'acme-admin', token: ACME_ADMIN, role: 'admin', customer: 'acme' },
        ],
      },
    });
  });
  afterAll(() => gateway?.stop());

  const call = (role: Role | 'acme', method: string, path: string, body?: unknown) =>
    fetch(`${gateway.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${role === 'acme' ? ACME_ADMIN : TOKENS[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it.each(ROUTES.map((r) => [r.name, r] as const))('%s', async (_name, route) => {
    const results: Record<string, number> = {};
    let n = 0;
    for (const role of ROLES) {
      const { method, path, body } = await route.prepare(gateway.adminUrl, n++);
      results[role] = (await call(role, method, path, body)).status;
    }
    for (const role of ROLES) {
      if (route.allowed.includes(role)) expect(results[role], `${role} should be allowed`).toBeLessThan(300);
      else expect(results[role], `${role} should be refused`).toBe(403);
    }
  });

  it('refuses a missing or unknown token with 401', async () => {
    expect((await fetch(`${gateway.adminUrl}/admin/keys`)).status).toBe(401);
    expect((await fetch(`${gateway.adminUrl}/admin/keys`, { headers: { authorization: 'Bearer not-a-token-at-all' } })).status).toBe(401);
  });

  it('keeps a token scoped to one customer inside that customer', async () => {
    await owner(gateway.adminUrl, 'POST', '/admin/customers', { id: 'acme', name: 'Acme' });
    await owner(gateway.adminUrl, 'POST', '/admin/customers', { id: 'globex', name: 'Globex' });
    await owner(gateway.adminUrl, 'POST', '/admin/teams', { id: 'globex-team', name: 'G', customer: 'globex' });
    const created = await call('acme', 'POST', '/admin/teams', { id: 'acme-team', name: 'A' });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { customer: string }).customer).toBe('acme');
    expect((await call('acme', 'GET', '/admin/teams/globex-team')).status).toBe(404);
    const listed = (await (await call('acme', 'GET', '/admin/teams')).json()) as { data: { id: string }[] };
    expect(listed.data.map((t) => t.id)).toEqual(['acme-team']);
    expect((await call('acme', 'POST', '/admin/keys', { name: 'k', team: 'globex-team' })).status).toBe(404);
    expect((await call('acme', 'POST', '/admin/customers', { id: 'new', name: 'N' })).status).toBe(403);
  });

  it('documents the admin API with OpenAPI', async () => {
    const spec = (await (await fetch(`${gateway.adminUrl}/docs/json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/admin/keys', '/admin/keys/{id}/rotate', '/admin/budgets', '/admin/teams', '/admin/customers']));
    expect((await fetch(`${gateway.adminUrl}/docs`)).status).toBeLessThan(400);
  });
});
