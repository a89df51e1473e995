import { createHmac } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_VIEWPORT, fetchInPage, launchConsoleBrowser, openPage, screenshot, type ConsoleBrowser } from '../harness/console.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually, testToken } from '../harness/infra.js';

/**
 * Issue 25's "the console can set policies per scope", in Debian's Chromium:
 * an admin adds a guardrail policy and attaches it to a team, and the team's
 * next request is refused by it; adds a storage policy and attaches it, and the
 * team's next record keeps its tags hashed; a viewer sees the page without its
 * forms and the server refuses its forged change.
 */

const ADMIN = testToken('admin');
const VIEWER = testToken('viewer');
// A planted card number (it passes the Luhn check), never a real one.
const CARD = '4111 1111 1111 1111';
const HASH_KEY = 'console-storage-hash-key-0123456789';
const TAG = 'client:console-planted';

let gateway: Awaited<ReturnType<typeof startInProcess>>;
let browser: ConsoleBrowser;

describe('the console’s guardrails page', () => {
  beforeAll(async () => {
    gateway = await startInProcess({
      governance: {
        adminTokens: [
          { name: 'admin-bot', token: ADMIN, role: 'admin' },
          { name: 'viewer-bot', token: VIEWER, role: 'viewer' },
        ],
      },
      guardrails: { storage: { hashKey: HASH_KEY } },
    });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'support', name: 'Support' });
    browser = await launchConsoleBrowser(gateway.adminUrl);
  });
  afterEach(() => browser.closePages());
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('lets an admin add a policy and attach it to a team, whose next request it refuses', async () => {
    const client = gateway.client((await gateway.createKey({ name: 'support-bot', team: 'support' })).key);
    const ask = () => client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: `card ${CARD}` }] });
    expect((await ask()).choices[0]?.message.content).toContain(CARD);

    const { page } = await browser.signIn(ADMIN, { viewport: DOCS_VIEWPORT });
    await openPage(page, 'Guardrails');
    const policyForm = page.getByRole('form', { name: 'Add a guardrail policy' });
    await policyForm.getByLabel('Policy name').fill('no-cards');
    await policyForm.getByLabel('Policy (JSON)').fill(JSON.stringify({ rules: [{ name: 'cards', detectors: ['payment_card'], action: 'block' }] }));
    await policyForm.getByRole('button', { name: 'Add guardrail policy' }).click();
    const policy = page.getByRole('table', { name: 'Guardrail policies' }).getByRole('row', { name: /no-cards/ });
    await policy.getByRole('cell', { name: 'cards: block payment_card (both)' }).waitFor();

    // A policy the server cannot apply is refused with its key named, and the form keeps what was typed.
    await policyForm.getByLabel('Policy name').fill('typo');
    await policyForm.getByLabel('Policy (JSON)').fill(JSON.stringify({ rules: [{ name: 'x', detectors: ['emial'], action: 'flag' }] }));
    await policyForm.getByRole('button', { name: 'Add guardrail policy' }).click();
    await page.getByText('guardrails.policies.typo.rules.0.detectors.0: no detector or group is named emial').waitFor();

    const attach = page.getByRole('form', { name: 'Attach guardrail policies' });
    await attach.getByLabel('Attach to').selectOption('team');
    await attach.getByLabel('Id (customer, team or key)').fill('support');
    await attach.getByLabel('Policies (comma-separated)').fill('no-cards');
    await attach.getByRole('button', { name: 'Attach' }).click();
    await page
      .getByRole('table', { name: 'Guardrail attachments' })
      .getByRole('row', { name: /team support/ })
      .waitFor();

    const refused = await eventually('the attached policy to refuse the team', async () => {
      const error = await ask().then(
        () => undefined,
        (err: unknown) => err,
      );
      return error instanceof OpenAI.APIError ? error : undefined;
    });
    expect(refused.status).toBe(400);
    expect(refused.message).toContain('cards');

    const attached = page.getByRole('table', { name: 'Guardrail attachments' }).getByRole('row', { name: /team support/ });
    await attached.getByRole('button', { name: 'Detach' }).click();
    await attached.getByRole('button', { name: 'Detach team support now' }).click();
    await attached.waitFor({ state: 'detached' });
    await eventually('the team free of the policy', async () => ((await ask().catch(() => undefined)) ? true : undefined));
  });

  it('lets an admin add a storage policy and attach it to a team, whose next record keeps its tags hashed', async () => {
    const key = await gateway.createKey({ name: 'support-tags', team: 'support' });
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: key.key, maxRetries: 0 });
    const tagsRecorded = async () => {
      const { response } = await client.chat.completions
        .create({ model: 'mock/echo', messages: [{ role: 'user', content: 'hello' }] }, { headers: { 'x-gateway-tags': TAG } })
        .withResponse();
      const requestId = response.headers.get('x-request-id');
      return eventually('the audit row', async () => {
        const { data } = await admin<{ data: { payload: { request?: { tags?: string[] } } }[] }>(
          gateway.adminUrl,
          'GET',
          `/admin/audit/events?request_id=${requestId}`,
        );
        return data[0]?.payload.request?.tags;
      });
    };
    expect(await tagsRecorded()).toEqual([TAG]);

    const { page } = await browser.signIn(ADMIN, { viewport: DOCS_VIEWPORT });
    await openPage(page, 'Guardrails');
    const policyForm = page.getByRole('form', { name: 'Add a storage policy' });
    // A treatment the server does not know is refused with its key named.
    await policyForm.getByLabel('Policy name').fill('tags-hashed');
    await policyForm.getByLabel('Policy (JSON)').fill(JSON.stringify({ metadata: 'shred' }));
    await policyForm.getByRole('button', { name: 'Add storage policy' }).click();
    await page.getByText('guardrails.storage.policies.tags-hashed.metadata').waitFor();
    await policyForm.getByLabel('Policy (JSON)').fill(JSON.stringify({ metadata: 'hash' }));
    await policyForm.getByRole('button', { name: 'Add storage policy' }).click();
    const policy = page.getByRole('table', { name: 'Storage policies' }).getByRole('row', { name: /tags-hashed/ });
    await policy.getByRole('cell', { name: 'prompt: keep; completion: keep; toolArguments: keep; metadata: hash' }).waitFor();

    const attach = page.getByRole('form', { name: 'Attach storage policies' });
    await attach.getByLabel('Attach to').selectOption('team');
    await attach.getByLabel('Id (customer, team or key)').fill('support');
    await attach.getByLabel('Policies (comma-separated)').fill('tags-hashed');
    await attach.getByRole('button', { name: 'Attach' }).click();
    const attached = page.getByRole('table', { name: 'Storage attachments' }).getByRole('row', { name: /team support/ });
    await attached.waitFor();
    await screenshot(page, 'guardrails');

    const hashed = `hmac-sha256:${createHmac('sha256', HASH_KEY).update(TAG).digest('hex')}`;
    await eventually('the team’s tags hashed', async () => ((await tagsRecorded())?.[0] === hashed ? true : undefined));

    await attached.getByRole('button', { name: 'Detach' }).click();
    await attached.getByRole('button', { name: 'Detach team support now' }).click();
    await attached.waitFor({ state: 'detached' });
    await eventually('the team’s tags kept again', async () => ((await tagsRecorded())?.[0] === TAG ? true : undefined));
  });

  it('shows a viewer the guardrails read-only, and refuses its forged change', async () => {
    await admin(gateway.adminUrl, 'PUT', '/admin/guardrails/policies/viewer-sees', { rules: [{ name: 'mails', detectors: ['email'], action: 'flag' }] });
    const { page } = await browser.signIn(VIEWER);
    await openPage(page, 'Guardrails');
    await page
      .getByRole('table', { name: 'Guardrail policies' })
      .getByRole('row', { name: /viewer-sees/ })
      .waitFor();
    expect(await page.getByRole('form').count()).toBe(0);
    for (const name of ['Edit', 'Remove', 'Detach']) expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
    const forged = await fetchInPage(page, 'PUT', '/admin/guardrails/attachments/global', { 'x-gateway-console': '1' }, ['viewer-sees']);
    expect(forged.status).toBe(403);
    await admin(gateway.adminUrl, 'GET', '/admin/guardrails/attachments/global', undefined, [404]);
    const storage = await fetchInPage(page, 'PUT', '/admin/guardrails/storage/attachments/global', { 'x-gateway-console': '1' }, ['tags-hashed']);
    expect(storage.status).toBe(403);
  });
});
