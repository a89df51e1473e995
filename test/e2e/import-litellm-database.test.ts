import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, ADMIN_TOKEN, runCli, startInProcess, type TestGateway } from '../harness/gateway.js';
import { createDatabase, requireInfra, testToken } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';

/** LiteLLM's proxy tables as its published Prisma schema names them (only the columns these rows use, and a few it does not map). */
const LITELLM_SCHEMA = `
  CREATE TABLE "LiteLLM_BudgetTable" (budget_id TEXT PRIMARY KEY, max_budget DOUBLE PRECISION, soft_budget DOUBLE PRECISION,
    max_parallel_requests INTEGER, tpm_limit BIGINT, rpm_limit BIGINT, budget_duration TEXT, budget_reset_at TIMESTAMP(3),
    created_by TEXT NOT NULL DEFAULT 'admin', updated_by TEXT NOT NULL DEFAULT 'admin');
  CREATE TABLE "LiteLLM_OrganizationTable" (organization_id TEXT PRIMARY KEY, organization_alias TEXT NOT NULL, budget_id TEXT NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}', models TEXT[], spend DOUBLE PRECISION NOT NULL DEFAULT 0, created_by TEXT NOT NULL DEFAULT 'admin');
  CREATE TABLE "LiteLLM_TeamTable" (team_id TEXT PRIMARY KEY, team_alias TEXT, organization_id TEXT, admins TEXT[], members TEXT[],
    metadata JSONB NOT NULL DEFAULT '{}', max_budget DOUBLE PRECISION, spend DOUBLE PRECISION NOT NULL DEFAULT 0, models TEXT[],
    max_parallel_requests INTEGER, tpm_limit BIGINT, rpm_limit BIGINT, budget_duration TEXT, budget_reset_at TIMESTAMP(3),
    blocked BOOLEAN NOT NULL DEFAULT false, model_max_budget JSONB NOT NULL DEFAULT '{}');
  CREATE TABLE "LiteLLM_VerificationToken" (token TEXT PRIMARY KEY, key_name TEXT, key_alias TEXT, spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    expires TIMESTAMP(3), models TEXT[], aliases JSONB NOT NULL DEFAULT '{}', user_id TEXT, team_id TEXT, max_parallel_requests INTEGER,
    metadata JSONB NOT NULL DEFAULT '{}', blocked BOOLEAN, tpm_limit BIGINT, rpm_limit BIGINT, max_budget DOUBLE PRECISION,
    budget_duration TEXT, budget_reset_at TIMESTAMP(3), budget_id TEXT, organization_id TEXT, created_at TIMESTAMP(3) DEFAULT now());
  CREATE TABLE "LiteLLM_EndUserTable" (user_id TEXT PRIMARY KEY, alias TEXT, spend DOUBLE PRECISION NOT NULL DEFAULT 0, budget_id TEXT,
    blocked BOOLEAN NOT NULL DEFAULT false);
`;

/** LiteLLM's hash_token: the SHA-256 of the key, in hex. */
const hashToken = (key: string) => createHash('sha256').update(key).digest('hex');

describe('`gateway import litellm --database`: LiteLLM keys, teams and budgets, every key keeping its secret', () => {
  const keys = {
    search: testToken('sk-search'),
    billing: testToken('sk-billing'),
    blocked: testToken('sk-blocked'),
    expired: testToken('sk-old'),
    ops: testToken('sk-ops'),
    spent: testToken('sk-spent'),
  };
  // Windows under way in LiteLLM: the organization's month ends in ten days, the spent key's day in six hours.
  const acmeMonthEnds = new Date(Date.now() + 10 * 86_400_000);
  const spentDayEnds = new Date(Date.now() + 6 * 3_600_000);
  let litellm: { url: string; drop(): Promise<void> };
  let gateway: TestGateway;
  let env: Record<string, string>;
  let first: { code: number; out: string };

  beforeAll(async () => {
    for (const key of Object.values(keys)) recordSecret(key);
    litellm = await createDatabase(requireInfra().databaseUrl);
    const db = new pg.Client({ connectionString: litellm.url });
    await db.connect();
    await db.query(LITELLM_SCHEMA);
    await db.query(`
      INSERT INTO "LiteLLM_BudgetTable" (budget_id, max_budget, budget_duration, rpm_limit) VALUES ('b-acme', 500, '1mo', 1000), ('b-globex', 50, NULL, NULL);
      INSERT INTO "LiteLLM_OrganizationTable" (organization_id, organization_alias, budget_id, spend) VALUES ('org-acme', 'Acme', 'b-acme', 120.5), ('org-globex', 'Globex', 'b-globex', 0);
      INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, organization_id, max_budget, budget_duration, rpm_limit, models, members, spend, blocked) VALUES
        ('team-search', 'Search', 'org-acme', 100, '30d', 600, '{mock/echo,mock/other}', '{alice,bob}', 12.25, false),
        ('team-billing', 'Billing', 'org-acme', 20, '1d', NULL, NULL, NULL, 0, false),
        ('team-legacy', 'Legacy', 'org-globex', NULL, NULL, NULL, NULL, NULL, 0, true);
      INSERT INTO "LiteLLM_EndUserTable" (user_id, spend) VALUES ('customer-42', 3.5);
    `);
    const insertKey = `INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, team_id, organization_id, user_id, models, rpm_limit,
      max_parallel_requests, max_budget, budget_duration, spend, blocked, expires, aliases) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`;
    const rows: unknown[][] = [
      [keys.search, 'search-prod', 'team-search', null, 'alice', ['mock/echo'], 60, 4, 10, '7d', 2.5, null, null, {}],
      [keys.billing, 'billing-batch', 'team-billing', null, 'bob', [], null, null, 5, '2d', 0, false, null, { fast: 'mock/echo' }],
      [keys.blocked, 'leaked-key', 'team-search', null, null, [], null, null, null, null, 0, true, null, {}],
      [keys.expired, 'old-intern', 'team-billing', null, null, [], null, null, null, null, 0, false, new Date(Date.now() - 86_400_000), {}],
      [keys.ops, 'ops', null, 'org-globex', null, ['all-proxy-models'], null, null, 25, null, 0, null, null, {}],
      [keys.spent, 'spent-up', 'team-billing', null, null, [], null, null, 5, '1d', 7.5, false, null, {}],
    ];
    for (const [key, ...rest] of rows) await db.query(insertKey, [hashToken(key as string), `sk-...${(key as string).slice(-4)}`, ...rest]);
    await db.query(`UPDATE "LiteLLM_BudgetTable" SET budget_reset_at = $1 WHERE budget_id = 'b-acme'`, [acmeMonthEnds]);
    await db.query(`UPDATE "LiteLLM_VerificationToken" SET budget_reset_at = $1 WHERE key_alias = 'spent-up'`, [spentDayEnds]);
    // Billing's day ended an hour ago and LiteLLM has not reset it yet: what it counts belongs to that day.
    await db.query(`UPDATE "LiteLLM_TeamTable" SET spend = 3, budget_reset_at = $1 WHERE team_id = 'team-billing'`, [new Date(Date.now() - 3_600_000)]);
    await db.end();

    gateway = await startInProcess({ routing: { providers: { mock: { type: 'mock' } } } });
    env = { GATEWAY_ADMIN_URL: gateway.adminUrl, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN };
    first = await runCli(['import', 'litellm', '--database', litellm.url], env);
  });
  afterAll(async () => {
    await gateway?.stop();
    await litellm?.drop();
  });

  it('a dry run against an empty gateway shows the plan and changes nothing', async () => {
    const fresh = await startInProcess({});
    try {
      const dry = await runCli(['import', 'litellm', '--database', litellm.url, '--dry-run'], { ...env, GATEWAY_ADMIN_URL: fresh.adminUrl });
      expect(dry.code).toBe(0);
      expect(dry.out).toContain('would create customer org-acme (Acme)');
      expect(dry.out).toContain('would import key ');
      expect(dry.out).toContain('none made (--dry-run)');
      expect((await admin<{ data: unknown[] }>(fresh.adminUrl, 'GET', '/admin/keys')).data).toEqual([]);
    } finally {
      await fresh.stop();
    }
  });

  it('imports, reporting by table and column what did not carry over, and prints no key hash', () => {
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('create team team-search (Search)');
    expect(first.out).toContain('LiteLLM_VerificationToken[billing-batch].budget_duration: "2d" is no period here');
    expect(first.out).toContain('LiteLLM_VerificationToken.aliases: set on 1 row, not carried');
    expect(first.out).toContain('LiteLLM_TeamTable.members: set on 1 row, not carried');
    expect(first.out).toContain('create month budget of $500 on customer org-acme, $120.5 spent so far');
    expect(first.out).toContain('create month budget of $100 on team team-search, $12.25 spent so far');
    expect(first.out).toMatch(/LiteLLM_TeamTable\[Billing\]\.spend: \$3\.00 was spent in a LiteLLM window that ended at .*: the budget here starts at \$0/);
    expect(first.out).toContain('LiteLLM_EndUserTable: 1 end users');
    for (const key of Object.values(keys)) expect(first.out).not.toContain(hashToken(key));
  });

  it('each key authenticates with its original secret, through the openai client', async () => {
    const answer = await gateway.client(keys.search).chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]!.message.content).toBeTruthy();
    await expect(
      gateway.client(keys.ops).chat.completions.create({ model: 'mock/anything', messages: [{ role: 'user', content: 'hi' }] }),
    ).resolves.toBeTruthy();
  });

  it('refuses where LiteLLM would: blocked and expired keys, models outside the allowlist', async () => {
    const ask = (key: string, model = 'mock/echo') => gateway.client(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    await expect(ask(keys.blocked)).rejects.toMatchObject({ status: 401 });
    await expect(ask(keys.expired)).rejects.toMatchObject({ status: 401 });
    // Its team allows mock/other too, but LiteLLM checks both lists: the key's own is the narrower.
    await expect(ask(keys.search, 'mock/other')).rejects.toMatchObject({ status: 403 });
  });

  it('teams, customers and budgets listed by the admin API match LiteLLM', async () => {
    const teams = (await admin<{ data: Record<string, unknown>[] }>(gateway.adminUrl, 'GET', '/admin/teams')).data;
    expect(teams.map((t) => [t.id, t.name, t.customer, t.rpm_limit]).sort()).toEqual([
      ['team-billing', 'Billing', 'org-acme', null],
      ['team-legacy', 'Legacy', 'org-globex', null],
      ['team-search', 'Search', 'org-acme', 600],
    ]);
    const budgets = (await admin<{ data: Record<string, unknown>[] }>(gateway.adminUrl, 'GET', '/admin/budgets')).data;
    const shown = budgets.map((b) => `${b.scope}:${String(b.scope_id).startsWith('litellm-') ? 'key' : b.scope_id}:${b.period}:${b.limit_usd}`).sort();
    expect(shown).toEqual([
      'customer:org-acme:month:500',
      'customer:org-globex:year:50',
      'key:key:day:5',
      'key:key:week:10',
      'key:key:year:25',
      'team:team-billing:day:20',
      'team:team-search:month:100',
    ]);
    const search = (await admin<{ data: Record<string, unknown>[] }>(gateway.adminUrl, 'GET', '/admin/keys')).data.find((k) => k.name === 'search-prod')!;
    expect(search).toMatchObject({
      team: 'team-search',
      allowed_models: ['mock/echo'],
      rpm_limit: 60,
      max_parallel: 4,
      metadata: { litellm_user_id: 'alice' },
    });
  });

  it('budgets go on where LiteLLM left them: spend carried into the window under way, a key over its budget refused', async () => {
    type Windowed = { id: string; scope_id: string; period: string; window: { start: string; end: string; used_usd: number; carried_usd: number } };
    const budgets = (await admin<{ data: Windowed[] }>(gateway.adminUrl, 'GET', '/admin/budgets')).data;
    const windowOf = async (scopeId: string, period: string) =>
      (await admin<Windowed>(gateway.adminUrl, 'GET', `/admin/budgets/${budgets.find((b) => b.scope_id === scopeId && b.period === period)!.id}`)).window;

    const acme = await windowOf('org-acme', 'month');
    expect(acme).toMatchObject({ end: acmeMonthEnds.toISOString(), carried_usd: 120.5 });
    expect(acme.used_usd).toBeGreaterThanOrEqual(120.5);
    expect(await windowOf('team-search', 'month')).toMatchObject({ carried_usd: 12.25 });
    expect(await windowOf('team-billing', 'day')).toMatchObject({ carried_usd: 0 });

    const spentKey = (await admin<{ data: { id: string; name: string }[] }>(gateway.adminUrl, 'GET', '/admin/keys')).data.find((k) => k.name === 'spent-up')!;
    expect(await windowOf(spentKey.id, 'day')).toMatchObject({ end: spentDayEnds.toISOString(), used_usd: 7.5, carried_usd: 7.5 });
    const refused = await gateway
      .client(keys.spent)
      .chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'one more' }] })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ status: 402, code: 'budget_exceeded' });
  });

  it('a second run changes nothing', async () => {
    const second = await runCli(['import', 'litellm', '--database', litellm.url], env);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain('import litellm: nothing to change (2 organizations, 3 teams, 6 keys, 7 budgets already here)');
  });

  it('says what to do when the database is not LiteLLM’s or cannot be reached', async () => {
    const other = await createDatabase(requireInfra().databaseUrl);
    try {
      const wrong = await runCli(['import', 'litellm', '--database', other.url], env);
      expect(wrong.code).toBe(1);
      expect(wrong.out).toContain('so it is not a LiteLLM proxy database; give the database LiteLLM');
    } finally {
      await other.drop();
    }
    const down = await runCli(['import', 'litellm', '--database', 'postgresql://nobody:secret@127.0.0.1:1/litellm'], env);
    expect(down.code).toBe(1);
    expect(down.out).toContain('cannot connect to the database at 127.0.0.1:1/litellm');
    expect(down.out).not.toContain('secret@');
  });
});
