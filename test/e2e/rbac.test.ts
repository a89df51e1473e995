import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calcTools, startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { startOAuthServer, type FakeOAuthServer } from '../fakes/oauth-server.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, freePort, testToken } from '../harness/infra.js';

/**
 * Issue 21's role matrix: every route of the admin API, as the running API
 * lists it, tried by every role, a token scoped to one customer, an unknown
 * token and no token. A route missing from EXPECTED fails the first test, so
 * a new route cannot go untried.
 */

const ROLE_TOKENS = { owner: testToken('owner'), admin: testToken('admin'), viewer: testToken('viewer'), auditor: testToken('auditor') } as const;
type Role = keyof typeof ROLE_TOKENS;
/** An admin limited to the customer acme, inside which every entity below is made. */
const SCOPED = testToken('acme-admin');
const CALLERS: Record<string, string | undefined> = { ...ROLE_TOKENS, scoped: SCOPED, unknown: testToken('unknown'), none: undefined };
/** An admin limited to the team acme-team, for the budget rule (not a caller of the matrix). */
const TEAM_SCOPED = testToken('acme-team-admin');

type Permission = 'read' | 'write' | 'manage_customers' | 'manage_routing' | 'manage_retention' | 'read_retention' | 'audit';
/** What each role may do: the table in docs/governance.md, written out here rather than read from the code under test. */
const GRANTS: Record<Role, Permission[]> = {
  owner: ['read', 'write', 'manage_customers', 'manage_routing', 'manage_retention', 'read_retention', 'audit'],
  admin: ['read', 'write', 'manage_routing', 'manage_retention', 'read_retention'],
  viewer: ['read'],
  auditor: ['read_retention', 'audit'],
};
/** What a token limited to a customer or team may never do, whatever its role. */
const UNSCOPED_ONLY: Permission[] = ['manage_customers', 'manage_routing', 'manage_retention', 'read_retention'];

/** The parts of a call the route's path does not fix: its path parameters, query and body. */
interface Call {
  params?: Record<string, string>;
  query?: string;
  body?: unknown;
}

interface Expectation {
  /** 'anyone': every valid token; 'no one': the route needs no token (it answers everybody alike); 'everybody': likewise, and serves them. */
  needs: Permission | 'anyone' | 'no one' | 'everybody';
  /** Makes what the call needs (as the owner, inside acme) and returns it; a fresh entity for every caller. */
  call?: () => Promise<Call>;
}

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let made = 0;
const fresh = (what: string) => `${what}-${++made}`;
const owner = (method: string, path: string, body?: unknown) => admin<{ id: string }>(gateway.adminUrl, method, path, body);
const team = async () => (await owner('POST', '/admin/teams', { id: fresh('team'), name: 'T', customer: 'acme' })).id;
const key = async () => (await owner('POST', '/admin/keys', { name: 'k', team: 'acme-team' })).id;
const budget = async () => (await owner('POST', '/admin/budgets', { scope: 'key', scope_id: await key(), limit_usd: 5, period: 'month' })).id;
const ENTRY_BODIES = {
  providers: { type: 'mock' },
  models: 'mock/echo',
  'guardrails/policies': { rules: [{ name: 'cards', detectors: ['payment_card'], action: 'redact' }] },
  'guardrails/storage/policies': { toolArguments: 'redact' },
} as const;
const routingEntry = async (path: keyof typeof ENTRY_BODIES) => {
  const name = fresh(path.split('/').at(-1)!.slice(0, -1));
  await owner('PUT', `/admin/${path}/${name}`, ENTRY_BODIES[path]);
  return { params: { name } };
};
const attachment = (of: 'guardrails' | 'guardrails/storage') => async () => {
  const { params } = await routingEntry(`${of}/policies`);
  const name = `team:${fresh('team')}`;
  await owner('PUT', `/admin/${of}/attachments/${name}`, [params.name]);
  return { params: { name } };
};

const EXPECTED: Record<string, Expectation> = {
  'GET /admin/whoami': { needs: 'anyone' },
  // Console sign-in takes its token in the body: without one it is a 400 for everyone (test/e2e/console.test.ts signs in).
  'POST /admin/session': { needs: 'no one' },
  'DELETE /admin/session': { needs: 'anyone' },
  // What the sign-in page offers, asked before anyone signs in (the OpenID Connect routes, served when configured, are test/e2e/console-oidc.test.ts's).
  'GET /admin/session/options': { needs: 'everybody' },
  // The API's address for the console's first request (test/e2e/console-first-request.test.ts).
  'GET /admin/console/ingress': { needs: 'anyone' },
  'GET /admin/customers': { needs: 'read' },
  'POST /admin/customers': { needs: 'manage_customers', call: async () => ({ body: { id: fresh('customer'), name: 'C' } }) },
  'GET /admin/customers/:id': { needs: 'read', call: async () => ({ params: { id: 'acme' } }) },
  'PATCH /admin/customers/:id': { needs: 'write', call: async () => ({ params: { id: 'acme' }, body: { name: 'Acme' } }) },
  'DELETE /admin/customers/:id': {
    needs: 'manage_customers',
    call: async () => ({ params: { id: (await owner('POST', '/admin/customers', { id: fresh('customer'), name: 'C' })).id } }),
  },
  'GET /admin/teams': { needs: 'read' },
  'POST /admin/teams': { needs: 'write', call: async () => ({ body: { id: fresh('team'), name: 'T', customer: 'acme' } }) },
  'GET /admin/teams/:id': { needs: 'read', call: async () => ({ params: { id: await team() } }) },
  'PATCH /admin/teams/:id': { needs: 'write', call: async () => ({ params: { id: await team() }, body: { rpm_limit: 10 } }) },
  'DELETE /admin/teams/:id': { needs: 'write', call: async () => ({ params: { id: await team() } }) },
  'GET /admin/keys': { needs: 'read' },
  'POST /admin/keys': { needs: 'write', call: async () => ({ body: { name: 'k', team: 'acme-team' } }) },
  // A key known by its hash (another gateway's, imported): only the unscoped owner, or a scoped admin could adopt a key it holds.
  'POST /admin/keys/import': {
    needs: 'manage_customers',
    call: async () => ({ body: { id: fresh('vk'), name: 'k', team: 'acme-team', key_sha256: randomBytes(32).toString('hex') } }),
  },
  'GET /admin/keys/:id': { needs: 'read', call: async () => ({ params: { id: await key() } }) },
  'PATCH /admin/keys/:id': { needs: 'write', call: async () => ({ params: { id: await key() }, body: { allowed_models: ['mock/*'] } }) },
  'POST /admin/keys/:id/rotate': { needs: 'write', call: async () => ({ params: { id: await key() } }) },
  'POST /admin/keys/:id/revoke': { needs: 'write', call: async () => ({ params: { id: await key() } }) },
  'GET /admin/budgets': { needs: 'read' },
  'POST /admin/budgets': { needs: 'write', call: async () => ({ body: { scope: 'key', scope_id: await key(), limit_usd: 5, period: 'month' } }) },
  'GET /admin/budgets/:id': { needs: 'read', call: async () => ({ params: { id: await budget() } }) },
  'PATCH /admin/budgets/:id': { needs: 'write', call: async () => ({ params: { id: await budget() }, body: { limit_usd: 7 } }) },
  'DELETE /admin/budgets/:id': { needs: 'write', call: async () => ({ params: { id: await budget() } }) },
  // Lowering it lets a scope spend again what it spent elsewhere: the unscoped owner's alone.
  'PUT /admin/budgets/:id/carried-spend': { needs: 'manage_customers', call: async () => ({ params: { id: await budget() }, body: { spend_usd: 1.25 } }) },
  'GET /admin/providers': { needs: 'read' },
  'GET /admin/providers/:name': { needs: 'read', call: () => routingEntry('providers') },
  'PUT /admin/providers/:name': { needs: 'manage_routing', call: async () => ({ params: { name: fresh('provider') }, body: { type: 'mock' } }) },
  'DELETE /admin/providers/:name': { needs: 'manage_routing', call: () => routingEntry('providers') },
  'GET /admin/models': { needs: 'read' },
  'GET /admin/models/:name': { needs: 'read', call: () => routingEntry('models') },
  'GET /admin/deployments': { needs: 'read' },
  'GET /admin/deployments/health': { needs: 'read' },
  'PUT /admin/models/:name': { needs: 'manage_routing', call: async () => ({ params: { name: fresh('model') }, body: 'mock/echo' }) },
  'DELETE /admin/models/:name': { needs: 'manage_routing', call: () => routingEntry('models') },
  'GET /admin/guardrails/policies': { needs: 'read' },
  'GET /admin/guardrails/policies/:name': { needs: 'read', call: () => routingEntry('guardrails/policies') },
  'PUT /admin/guardrails/policies/:name': {
    needs: 'manage_routing',
    call: async () => ({ params: { name: fresh('policy') }, body: ENTRY_BODIES['guardrails/policies'] }),
  },
  'DELETE /admin/guardrails/policies/:name': { needs: 'manage_routing', call: () => routingEntry('guardrails/policies') },
  'GET /admin/guardrails/attachments': { needs: 'read' },
  'GET /admin/guardrails/attachments/:name': { needs: 'read', call: attachment('guardrails') },
  'PUT /admin/guardrails/attachments/:name': {
    needs: 'manage_routing',
    call: async () => ({ params: { name: `team:${fresh('team')}` }, body: [(await routingEntry('guardrails/policies')).params.name] }),
  },
  'DELETE /admin/guardrails/attachments/:name': { needs: 'manage_routing', call: attachment('guardrails') },
  'GET /admin/guardrails/storage/policies': { needs: 'read' },
  'GET /admin/guardrails/storage/policies/:name': { needs: 'read', call: () => routingEntry('guardrails/storage/policies') },
  'PUT /admin/guardrails/storage/policies/:name': {
    needs: 'manage_routing',
    call: async () => ({ params: { name: fresh('policy') }, body: ENTRY_BODIES['guardrails/storage/policies'] }),
  },
  'DELETE /admin/guardrails/storage/policies/:name': { needs: 'manage_routing', call: () => routingEntry('guardrails/storage/policies') },
  'GET /admin/guardrails/storage/attachments': { needs: 'read' },
  'GET /admin/guardrails/storage/attachments/:name': { needs: 'read', call: attachment('guardrails/storage') },
  'PUT /admin/guardrails/storage/attachments/:name': {
    needs: 'manage_routing',
    call: async () => ({ params: { name: `team:${fresh('team')}` }, body: [(await routingEntry('guardrails/storage/policies')).params.name] }),
  },
  'DELETE /admin/guardrails/storage/attachments/:name': { needs: 'manage_routing', call: attachment('guardrails/storage') },
  'GET /admin/audit/events': { needs: 'audit' },
  'GET /admin/audit/export': { needs: 'audit' },
  'GET /admin/audit/head': { needs: 'audit' },
  'POST /admin/audit/hash': { needs: 'audit', call: async () => ({ body: { value: 'x' } }) },
  'POST /admin/audit/verify': { needs: 'audit' },
  'GET /admin/retention': { needs: 'read_retention' },
  'PUT /admin/retention/:scope/:id': {
    needs: 'manage_retention',
    call: async () => ({ params: { scope: 'teams', id: await team() }, body: { toolArguments: 30 } }),
  },
  'PUT /admin/legal-holds/:scope/:id': {
    needs: 'manage_retention',
    call: async () => ({ params: { scope: 'teams', id: await team() }, body: { reason: 'case 7' } }),
  },
  'DELETE /admin/legal-holds/:scope/:id': {
    needs: 'manage_retention',
    call: async () => {
      const id = await team();
      await owner('PUT', `/admin/legal-holds/teams/${id}`, { reason: 'case 7' });
      return { params: { scope: 'teams', id } };
    },
  },
  'GET /admin/spend': { needs: 'read' },
  'GET /admin/tool-calls': { needs: 'read' },
  'GET /admin/usage/export': { needs: 'read' },
  'GET /admin/usage/recent': { needs: 'read' },
  'GET /admin/cache/entries': { needs: 'read' },
  'DELETE /admin/cache/entries': { needs: 'write', call: async () => ({ query: 'namespace=team:acme-team' }) },
  'GET /admin/mcp/servers': { needs: 'read' },
  'POST /admin/mcp/servers/:name/approve': { needs: 'manage_routing', call: async () => ({ params: { name: 'weather' } }) },
  'POST /admin/mcp/servers/:name/authorize': { needs: 'manage_routing', call: async () => ({ params: { name: 'files' } }) },
  'DELETE /admin/mcp/servers/:name/approval': {
    needs: 'manage_routing',
    call: async () => {
      await owner('POST', '/admin/mcp/servers/weather/approve');
      return { params: { name: 'weather' } };
    },
  },
  // The authorization server sends the admin's browser here; without a sign-in's code and state it is a 400 for everyone.
  'GET /admin/mcp/oauth/callback': { needs: 'no one' },
};

/** What a caller should get: served (2xx), 401, 403, or for a route that needs no token, the 400 of a call without a sign-in. */
function expectedOutcome(caller: string, needs: Expectation['needs']): string {
  if (needs === 'no one') return 'status 400';
  if (needs === 'everybody') return 'served';
  if (caller === 'unknown' || caller === 'none') return 'status 401';
  if (needs === 'anyone') return 'served';
  const allowed = caller === 'scoped' ? GRANTS.admin.includes(needs) && !UNSCOPED_ONLY.includes(needs) : GRANTS[caller as Role].includes(needs);
  return allowed ? 'served' : 'status 403';
}

describe('admin API: every route, every role, a scoped token, an unknown token and none', () => {
  let oauth: FakeOAuthServer;
  let mcp: FakeMcpHttpServer[];

  beforeAll(async () => {
    const adminPort = await freePort();
    const callback = `http://127.0.0.1:${adminPort}/admin/mcp/oauth/callback`;
    oauth = await startOAuthServer([{ id: 'gateway-files', redirectUris: [callback] }]);
    // weather: approvable at once; files: behind OAuth's authorization code flow, so an admin can start a sign-in.
    mcp = [
      await startMcpHttpServer('weather', weatherTools()),
      await startMcpHttpServer('files', calcTools(), { issuer: oauth.url, valid: (token, resource) => oauth.valid(token, resource) }),
    ];
    const tokenStore = `file:${join(mkdtempSync(join(tmpdir(), 'rbac-mcp-')), 'files.json')}`;
    gateway = await startInProcess({
      guardrails: { storage: { hashKey: 'rbac-storage-hash-key' } },
      governance: {
        adminPort,
        adminTokens: [
          ...Object.entries(ROLE_TOKENS).map(([role, token]) => ({ name: `${role}-bot`, token, role })),
          { name: 'acme-admin', token: SCOPED, role: 'admin', customer: 'acme' },
          { name: 'acme-team-admin', token: TEAM_SCOPED, role: 'admin', team: 'acme-team' },
        ],
      },
      routing: {
        mcp: {
          servers: {
            weather: { transport: 'http', url: mcp[0]!.url },
            files: {
              transport: 'http',
              url: mcp[1]!.url,
              oauth: { grant: 'authorization_code', issuer: oauth.url, clientId: 'gateway-files', redirectUrl: callback, tokenStore },
            },
          },
        },
      },
    });
    await owner('POST', '/admin/customers', { id: 'acme', name: 'Acme' });
    await owner('POST', '/admin/teams', { id: 'acme-team', name: 'A', customer: 'acme' });
    await eventually('the weather MCP server to connect', async () => {
      const { data } = await admin<{ data: { name: string; state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data.some((s) => s.name === 'weather' && s.state === 'ready') || undefined;
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([...(mcp ?? []).map((m) => m.close()), oauth?.close()]);
  });

  it('has an expected permission for every route the admin API serves, and for no other', async () => {
    const spec = (await (await fetch(`${gateway.adminUrl}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const served = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect(served.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s', async (route, expectation) => {
    const [method, template] = route.split(' ') as [string, string];
    const outcomes: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const [caller, token] of Object.entries(CALLERS)) {
      const { params = {}, query, body } = (await expectation.call?.()) ?? {};
      const path = template.replace(/:(\w+)/g, (_, name: string) => params[name]!) + (query ? `?${query}` : '');
      const response = await fetch(`${gateway.adminUrl}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      await response.arrayBuffer();
      outcomes[caller] = response.status < 300 ? 'served' : `status ${response.status}`;
      expected[caller] = expectedOutcome(caller, expectation.needs);
    }
    expect(outcomes).toEqual(expected);
  });

  it('keeps a token scoped to one customer inside that customer', async () => {
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${gateway.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${SCOPED}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    await owner('POST', '/admin/customers', { id: 'globex', name: 'Globex' });
    await owner('POST', '/admin/teams', { id: 'globex-team', name: 'G', customer: 'globex' });
    const created = await call('POST', '/admin/teams', { id: 'acme-own', name: 'A' });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { customer: string }).customer).toBe('acme');
    expect((await call('GET', '/admin/teams/globex-team')).status).toBe(404);
    const listed = (await (await call('GET', '/admin/teams')).json()) as { data: { id: string; customer: string }[] };
    expect(listed.data.every((t) => t.customer === 'acme')).toBe(true);
    expect((await call('POST', '/admin/keys', { name: 'k', team: 'globex-team' })).status).toBe(404);
  });

  it('lets a budget be set, changed and removed only from above its scope', async () => {
    const as = (token: string) => (method: string, path: string, body?: unknown) =>
      fetch(`${gateway.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const team = as(TEAM_SCOPED);
    const customer = as(SCOPED);
    const teamBudget = (await owner('POST', '/admin/budgets', { scope: 'team', scope_id: 'acme-team', limit_usd: 10, period: 'week' })).id;
    const customerBudget = (await owner('POST', '/admin/budgets', { scope: 'customer', scope_id: 'acme', limit_usd: 100, period: 'week' })).id;
    // The team's own admin can neither lift nor remove the budget set on its team, nor set another on it.
    expect((await team('PATCH', `/admin/budgets/${teamBudget}`, { limit_usd: 1_000_000 })).status).toBe(403);
    expect((await team('DELETE', `/admin/budgets/${teamBudget}`)).status).toBe(403);
    expect((await team('POST', '/admin/budgets', { scope: 'team', scope_id: 'acme-team', limit_usd: 1_000_000, period: 'day' })).status).toBe(403);
    // It still reads the budget it is held to.
    expect(await (await team('GET', `/admin/budgets/${teamBudget}`)).json()).toMatchObject({ limit_usd: 10 });
    // Below it, on a key of its team, it may.
    const key = (await owner('POST', '/admin/keys', { name: 'k', team: 'acme-team' })).id as string;
    expect((await team('POST', '/admin/budgets', { scope: 'key', scope_id: key, limit_usd: 5, period: 'day' })).status).toBe(201);
    // The customer's admin governs the team's budget, not the customer's own.
    expect((await customer('PATCH', `/admin/budgets/${teamBudget}`, { limit_usd: 20 })).status).toBe(200);
    expect((await customer('PATCH', `/admin/budgets/${customerBudget}`, { limit_usd: 1_000_000 })).status).toBe(403);
    expect((await customer('DELETE', `/admin/budgets/${customerBudget}`)).status).toBe(403);
    expect(await admin(gateway.adminUrl, 'GET', `/admin/budgets/${customerBudget}`)).toMatchObject({ limit_usd: 100 });
    // Budgets count whole micro-dollars: a finer limit is refused, naming the field, rather than rounded in silence.
    const tooFine = await admin(gateway.adminUrl, 'PATCH', `/admin/budgets/${customerBudget}`, { limit_usd: 0.0000001 }, [400]);
    expect(tooFine).toMatchObject({ error: { param: 'limit_usd', message: expect.stringContaining('at most 6 decimals') } });
    expect(await owner('PATCH', `/admin/budgets/${customerBudget}`, { limit_usd: 99.123456 })).toMatchObject({ limit_usd: 99.123456 });
  });

  it('documents the admin API with OpenAPI', async () => {
    const spec = (await (await fetch(`${gateway.adminUrl}/docs/json`)).json()) as { openapi: string };
    expect(spec.openapi).toMatch(/^3\./);
    expect((await fetch(`${gateway.adminUrl}/docs`)).status).toBeLessThan(400);
  });
});
