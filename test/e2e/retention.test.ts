import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMcpHttpServer, weatherTools, type FakeMcpHttpServer } from '../fakes/mcp-servers.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

const TOKENS = { admin: testToken('retention-admin'), viewer: testToken('retention-viewer'), auditor: testToken('retention-auditor') };

interface AuditRow {
  event_type: string;
  request_id: string;
  actor_admin: string;
  payload: { admin?: { resourceId: string; beforeJson: string; afterJson: string }; tool?: { argumentsJson?: string }; content?: { class: string } };
}

// Retention and legal holds through the admin API, as an owner, an admin, a viewer and an auditor set and read them
// (docs/retention.md); expiry itself is services/audit/content.test.ts's, which can write rows in the past.
describe('retention and legal holds on the admin API', () => {
  let weather: FakeMcpHttpServer;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    weather = await startMcpHttpServer('weather', weatherTools());
    gateway = await startInProcess({
      routing: { mcp: { servers: { weather: { transport: 'http', url: weather.url } } } },
      audit: { retention: { classes: { toolArguments: 400 } } },
      governance: { adminTokens: Object.entries(TOKENS).map(([role, token]) => ({ name: `${role}-bot`, token, role })) },
    });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'team-legal', name: 'Legal' });
  });
  afterAll(async () => {
    await gateway?.stop();
    await weather?.close();
  });

  const as = async (role: keyof typeof TOKENS, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKENS[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const auditRow = (type: string, find: (row: AuditRow) => boolean) =>
    eventually(`a ${type} row`, async () => {
      const { data } = await admin<{ data: AuditRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?type=${type}`);
      return data.find(find);
    });

  it("sets a team's retention, audited, and an auditor reads it", async () => {
    const set = await as('admin', 'PUT', '/admin/retention/teams/team-legal', { toolArguments: 30 });
    expect(set).toEqual({ status: 200, body: { scope: 'team', id: 'team-legal', retention: { toolArguments: 30 }, hold: null } });
    const change = await auditRow('admin.retention.update', (r) => r.payload.admin?.resourceId === 'team:team-legal');
    expect(change.actor_admin).toBe('admin-bot (admin)');
    expect(JSON.parse(change.payload.admin!.afterJson)).toEqual({ toolArguments: 30 });

    // Whoever may set retention may read it (the admin), and so may the auditor; a viewer may not.
    for (const role of ['auditor', 'admin'] as const) {
      const read = await as(role, 'GET', '/admin/retention');
      expect(read.body).toEqual({
        defaults: { toolArguments: 400 },
        tenants: [{ scope: 'team', id: 'team-legal', retention: { toolArguments: 30 }, hold: null }],
      });
    }
    expect((await as('viewer', 'GET', '/admin/retention')).status).toBe(403);
    // Spend (the usage ledger) is a class of its own, set per team or customer; metering files rows by it.
    const spend = await as('admin', 'PUT', '/admin/retention/customers/acme', { spend: 2_555 });
    expect(spend).toEqual({ status: 200, body: { scope: 'customer', id: 'acme', retention: { spend: 2_555 }, hold: null } });
    expect((await as('admin', 'PUT', '/admin/retention/customers/acme', { spend: null })).body).toMatchObject({ retention: {} });
    // Bad input is the client's error, in the admin API's shape.
    expect((await as('admin', 'PUT', '/admin/retention/teams/team-legal', { toolArguments: -1 })).status).toBe(400);
    expect((await as('admin', 'PUT', '/admin/retention/teams/team-legal', { prompts: 30 })).status).toBe(400);
  });

  it('places and lifts a legal hold, each audited; a viewer or an auditor cannot', async () => {
    expect((await as('viewer', 'PUT', '/admin/legal-holds/teams/team-legal', { reason: 'case 12' })).status).toBe(403);
    expect((await as('auditor', 'PUT', '/admin/legal-holds/teams/team-legal', { reason: 'case 12' })).status).toBe(403);
    const placed = await as('admin', 'PUT', '/admin/legal-holds/teams/team-legal', { reason: 'case 12' });
    expect(placed.body.hold).toMatchObject({ reason: 'case 12', placed_by: 'admin-bot (admin)' });
    const place = await auditRow('admin.legal_hold.place', (r) => r.payload.admin?.resourceId === 'team:team-legal');
    expect(JSON.parse(place.payload.admin!.afterJson)).toMatchObject({ reason: 'case 12' });
    const reworded = await as('admin', 'PUT', '/admin/legal-holds/teams/team-legal', { reason: 'case 12 and 13' });
    expect(reworded.body.hold).toMatchObject({ reason: 'case 12 and 13' });
    const update = await auditRow('admin.legal_hold.update', (r) => r.payload.admin?.resourceId === 'team:team-legal');
    expect(JSON.parse(update.payload.admin!.beforeJson)).toMatchObject({ reason: 'case 12' });

    expect((await as('viewer', 'DELETE', '/admin/legal-holds/teams/team-legal')).status).toBe(403);
    const lifted = await as('admin', 'DELETE', '/admin/legal-holds/teams/team-legal');
    expect(lifted.body).toMatchObject({ id: 'team-legal', hold: null });
    await auditRow('admin.legal_hold.lift', (r) => r.payload.admin?.resourceId === 'team:team-legal');
    expect((await as('admin', 'DELETE', '/admin/legal-holds/teams/team-legal')).status).toBe(404);
  });

  it("keeps a tool call's arguments beside its chained row, and gives them back to an auditor", async () => {
    await eventually('the MCP server connected', async () => {
      const { data } = await admin<{ data: { state: string }[] }>(gateway.adminUrl, 'GET', '/admin/mcp/servers');
      return data[0]?.state === 'ready' ? true : undefined;
    });
    await admin(gateway.adminUrl, 'POST', '/admin/mcp/servers/weather/approve');
    const { key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', {
      name: 'k',
      team: 'team-legal',
      allowed_tools: ['weather.*'],
      content_logging: true,
    });
    const response = await fetch(`${gateway.baseURL}/mcp/tools/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'call_1', type: 'function', function: { name: 'weather__get_forecast', arguments: JSON.stringify({ city: 'Oslo' }) } }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id')!;
    const row = await auditRow('tool.called', (r) => r.request_id === requestId);
    expect(JSON.parse(row.payload.tool!.argumentsJson!)).toEqual({ city: 'Oslo' });
    expect(row.payload).not.toHaveProperty('content');
    expect(await admin(gateway.adminUrl, 'POST', '/admin/audit/verify')).toMatchObject({ ok: true });
  });
});
