import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-guardrail-admin';
// A planted card number (it passes the Luhn check), never a real one.
const CARD = '4111 1111 1111 1111';

// Guardrail policies and attachments set through the admin API: checked
// against the config file's before they are stored, applied without a
// restart, and adding to (never replacing) what the config file attaches.
describe('guardrails through the admin API', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  const clients: Record<string, OpenAI> = {};

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    gateway = await startInProcess({
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } } },
      guardrails: {
        policies: { 'file-cards': { rules: [{ name: 'cards', detectors: ['payment_card'], direction: 'request', action: 'redact' }] } },
        attach: { teams: { 'team-file': ['file-cards'] } },
      },
    });
    for (const team of ['team-file', 'team-admin', 'team-other']) {
      await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: team, name: team });
      clients[team] = gateway.client((await gateway.createKey({ name: team, team })).key);
    }
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${gateway.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const errorOf = async (response: Response) => ((await response.json()) as { error: { message: string } }).error.message;
  const ask = (team: string, content: string) =>
    clients[team]!.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }).then(
      (answer) => answer,
      (err: unknown) => err as InstanceType<typeof OpenAI.APIError>,
    );

  it('applies a policy attached to a team at once, to that team only', async () => {
    const policy = { rules: [{ name: 'no-cards', detectors: ['payment_card'], direction: 'request', action: 'block' }] };
    const put = await call('PUT', '/admin/guardrails/policies/strict-cards', policy);
    expect(put.status, await put.clone().text()).toBe(200);
    expect((await call('PUT', '/admin/guardrails/attachments/team:team-admin', ['strict-cards'])).status).toBe(200);

    const refused = await eventually('the attached policy to block', async () => {
      const answer = await ask('team-admin', `my card is ${CARD}`);
      return answer instanceof OpenAI.APIError ? answer : undefined;
    });
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('content_policy_violation');
    expect(refused.message).toContain('no-cards');
    expect(refused.message).not.toContain(CARD);

    // Another team's request goes through untouched; the config file's team keeps its own redacting policy.
    const other = await ask('team-other', `card ${CARD} for other`);
    expect(other).not.toBeInstanceOf(OpenAI.APIError);
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain(CARD);
    await ask('team-file', `card ${CARD} for file`);
    expect(JSON.stringify(fake.requests.at(-1)?.body)).not.toContain(CARD);

    const listed = (await (await call('GET', '/admin/guardrails/attachments')).json()) as { data: { name: string; entry: unknown }[] };
    expect(listed.data).toEqual([expect.objectContaining({ name: 'team:team-admin', entry: ['strict-cards'] })]);
  });

  it('adds to what the config file attaches: the file team keeps its policy under an admin one', async () => {
    expect((await call('PUT', '/admin/guardrails/attachments/team:team-file', ['strict-cards'])).status).toBe(200);
    const refused = await eventually('the added policy to block', async () => {
      const answer = await ask('team-file', `again ${CARD}`);
      return answer instanceof OpenAI.APIError ? answer : undefined;
    });
    expect(refused.message).toContain('no-cards');
    expect((await call('DELETE', '/admin/guardrails/attachments/team:team-file')).status).toBe(204);
    await eventually('the file policy alone again', async () => !((await ask('team-file', `later ${CARD}`)) instanceof OpenAI.APIError));
    expect(JSON.stringify(fake.requests.at(-1)?.body)).not.toContain(CARD);
  });

  it('refuses what cannot apply, naming where, and keeps an attached policy', async () => {
    const unknownDetector = await call('PUT', '/admin/guardrails/policies/typo', { rules: [{ name: 'x', detectors: ['emial'], action: 'flag' }] });
    expect(unknownDetector.status).toBe(400);
    expect(await errorOf(unknownDetector)).toContain('guardrails.policies.typo.rules.0.detectors.0: no detector or group is named emial');

    const fileName = await call('PUT', '/admin/guardrails/policies/file-cards', { rules: [{ name: 'x', detectors: ['email'], action: 'flag' }] });
    expect(await errorOf(fileName)).toContain('guardrails.policies.file-cards is defined in the config file; change it there');

    const missing = await call('PUT', '/admin/guardrails/attachments/key:vk_nobody', ['no-such-policy']);
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toContain('no policy is named no-such-policy');

    expect((await call('PUT', '/admin/guardrails/attachments/teams:team-admin', ['strict-cards'])).status).toBe(400);

    const inUse = await call('DELETE', '/admin/guardrails/policies/strict-cards');
    expect(inUse.status).toBe(400);
    expect(await errorOf(inUse)).toContain('guardrails.attach.teams.team-admin.0: no policy is named strict-cards');
  });

  it('records every change as an admin event, before and after', async () => {
    await call('DELETE', '/admin/guardrails/attachments/team:team-admin');
    expect((await call('DELETE', '/admin/guardrails/policies/strict-cards')).status).toBe(204);
    await eventually('the policy to be lifted', async () => !((await ask('team-admin', `free ${CARD}`)) instanceof OpenAI.APIError));
    const { data } = await admin<{ data: { event_type: string; payload: { admin?: { resourceId: string } } }[] }>(
      gateway.adminUrl,
      'GET',
      '/admin/audit/events?type=admin.guardrail_policy.delete',
    );
    expect(data.map((row) => row.payload.admin?.resourceId)).toContain('strict-cards');
  });
});
