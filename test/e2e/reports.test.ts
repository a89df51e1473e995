import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

const AUDITOR = testToken('auditor');
const VIEWER = testToken('viewer');
const TEAM_A_ADMIN = testToken('team-a-admin');

/** Decimal strings to pico-dollars (the ledger's precision), to add them exactly. */
const units = (usd: string) => {
  const [whole, fraction = ''] = usd.split('.');
  return BigInt(whole!) * 1_000_000_000_000n + BigInt(fraction.padEnd(12, '0'));
};

// Spend for finance and the audit log for auditors, through the admin API.
describe('spend and audit reports', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  /** Expected cost per team, in pico-dollars: prompt tokens at $1/M, completion at $2/M. */
  const expected: Record<string, bigint> = { a: 0n, b: 0n };
  let requests = 0;

  beforeAll(async () => {
    gateway = await startInProcess({
      pricing: { models: { 'mock/echo': { input: 1, output: 2 } } },
      governance: {
        adminTokens: [
          { name: 'audit-bot', token: AUDITOR, role: 'auditor' },
          { name: 'finance', token: VIEWER, role: 'viewer' },
          { name: 'team-a-lead', token: TEAM_A_ADMIN, role: 'admin', team: 'a' },
        ],
      },
    });
    for (const team of ['a', 'b']) {
      const client = gateway.client((await gateway.createKey({ name: `key-${team}`, team })).key);
      for (let i = 0; i < (team === 'a' ? 3 : 2); i++) {
        const answer = await client.chat.completions.create({
          model: 'mock/echo',
          messages: [{ role: 'user', content: `team ${team} question ${i} ${'x'.repeat(i * 40)}` }],
        });
        expected[team]! += BigInt(answer.usage!.prompt_tokens) * 1_000_000n + BigInt(answer.usage!.completion_tokens) * 2_000_000n;
        requests++;
      }
      // A repeated temperature-0 question is answered from the cache: no cost, and a saving.
      for (let i = 0; i < 2; i++) await client.chat.completions.create({ model: 'mock/echo', temperature: 0, messages: [{ role: 'user', content: 'cached' }] });
      requests += 2;
    }
    await eventually('every request in the ledger', async () => {
      const report = await admin<{ total: { requests: number } }>(gateway.adminUrl, 'GET', '/admin/spend');
      return report.total.requests >= requests ? true : undefined;
    });
  });
  afterAll(() => gateway?.stop());

  const as = (token: string, path: string) => fetch(`${gateway.adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it("sums spend by team, exactly, with totals equal to the rows' sum", async () => {
    const report = (await (await as(VIEWER, '/admin/spend?group_by=team')).json()) as {
      data: { team: string; cost_usd: string; requests: number; cache_hits: number; saved_usd: string }[];
      total: { cost_usd: string; requests: number };
    };
    const byTeam = Object.fromEntries(report.data.map((r) => [r.team, r]));
    // Each team's first temperature-0 request was a miss, priced; the second a hit, free.
    const missCost = (team: string) => units(byTeam[team]!.cost_usd) - expected[team]!;
    expect(missCost('a')).toBeGreaterThan(0n);
    expect(missCost('a')).toBe(missCost('b'));
    expect(byTeam.a).toMatchObject({ requests: 5, cache_hits: 1 });
    expect(units(byTeam.a!.saved_usd)).toBe(missCost('a'));
    expect(units(report.total.cost_usd)).toBe(report.data.reduce((sum, r) => sum + units(r.cost_usd), 0n));
    expect(report.total.requests).toBe(requests);
  });

  it('groups by day and model, and exports as CSV', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const byDay = (await (await as(VIEWER, '/admin/spend?group_by=day,model')).json()) as { data: { day: string; model: string }[] };
    expect(byDay.data).toEqual([expect.objectContaining({ day: today, model: 'mock/echo' })]);
    const csv = await (await as(VIEWER, '/admin/spend?group_by=team&format=csv')).text();
    expect(csv.split('\r\n').filter(Boolean)).toEqual([
      'team,cost_usd,saved_usd,requests,prompt_tokens,completion_tokens,cached_tokens,unpriced_requests,cache_hits,cache_write_tokens,reasoning_tokens,input_cost_usd,cache_read_cost_usd,cache_write_cost_usd,output_cost_usd,reasoning_cost_usd,units_cost_usd',
      expect.stringMatching(/^a,/),
      expect.stringMatching(/^b,/),
    ]);
    const ledger = await (await as(VIEWER, '/admin/usage/export?format=csv')).text();
    expect(ledger.split('\r\n').filter(Boolean)).toHaveLength(requests + 1);
    const ndjson = (await (await as(VIEWER, '/admin/usage/export')).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string });
    expect(new Set(ndjson.map((r) => r.request_id)).size).toBe(requests);
  });

  it('keeps a team-scoped token to its own team', async () => {
    const report = (await (await as(TEAM_A_ADMIN, '/admin/spend?group_by=team')).json()) as { data: { team: string }[] };
    expect(report.data.map((r) => r.team)).toEqual(['a']);
    expect((await as(TEAM_A_ADMIN, '/admin/spend?team=b')).status).toBe(403);
  });

  it('lets auditors filter, page and export the audit log, and read its signed head', async () => {
    const all = (await (await as(AUDITOR, '/admin/audit/events?type=request.*&team=a&limit=1000')).json()) as {
      data: { seq: number; actor_team_id: string; hash: string }[];
    };
    expect(all.data).toHaveLength(5);
    expect(all.data.every((r) => r.actor_team_id === 'a')).toBe(true);
    const seen: number[] = [];
    for (let cursor = ''; ; ) {
      const page = (await (await as(AUDITOR, `/admin/audit/events?type=request.*&team=a&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
        data: { seq: number }[];
        next_cursor: string | null;
      };
      seen.push(...page.data.map((r) => r.seq));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(all.data.map((r) => r.seq));
    const csv = (await (await as(AUDITOR, '/admin/audit/export?format=csv&type=request.completed')).text()).split('\r\n').filter(Boolean);
    expect(csv[0]).toBe(
      'seq,event_id,event_type,occurred_at,request_id,trace_id,service,source_address,actor_key_id,actor_team_id,actor_customer_id,actor_admin,payload_json,prev_hash,hash',
    );
    expect(csv).toHaveLength(requests + 1);
    const everything = (await (await as(AUDITOR, '/admin/audit/export')).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; hash: string });
    const head = (await (await as(AUDITOR, '/admin/audit/head')).json()) as { seq: number; hash: string };
    expect(head).toMatchObject({ seq: everything.at(-1)!.seq, hash: everything.at(-1)!.hash });
  });

  it('gives spend to readers and the audit log to auditors, and each not the other', async () => {
    expect((await as(VIEWER, '/admin/audit/events')).status).toBe(403);
    expect((await as(AUDITOR, '/admin/spend')).status).toBe(403);
    expect((await as(AUDITOR, '/admin/audit/events?from=yesterday')).status).toBe(400);
  });
});
