import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenLocally } from '../fakes/local-server.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeVault, type FakeVault } from '../fakes/vault.js';
import { ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { recordSecret } from '../harness/leaks.js';

// Red-team tests of issue 21, part 3: an admin (not the owner) adding providers through the admin API must not
// reach secrets the operator did not hand out, nor aim the gateway at internal addresses.

const ADMIN_ROLE_TOKEN = randomBytes(24).toString('hex');
const ADMIN_ROLE = { governance: { adminTokens: [{ name: 'admin-bot', token: ADMIN_ROLE_TOKEN, role: 'admin' }] } };

/** A server an attacker wants the gateway to call: it counts the connections it gets and keeps what they carried. */
interface Listener {
  /** http://<address>:<port> of `localhost` as this machine resolves it. */
  readonly url: string;
  readonly port: number;
  readonly connections: number;
  readonly authorizations: (string | undefined)[];
  close(): Promise<void>;
}

async function startListener(): Promise<Listener> {
  let connections = 0;
  const authorizations: (string | undefined)[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    authorizations.push(req.headers.authorization);
    res.writeHead(500).end();
  });
  server.on('connection', () => connections++);
  // Where `localhost` leads, so a provider aimed at http://localhost:<port> would land here.
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  const { address, port } = server.address() as { address: string; port: number };
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    get connections() {
      return connections;
    },
    authorizations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

type Gateway = Awaited<ReturnType<typeof startInProcess>>;

/** PUT /admin/providers/<name> as a token of the `admin` role. */
const putProvider = (gateway: Gateway, name: string, entry: unknown) =>
  fetch(`${gateway.adminUrl}/admin/providers/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_ROLE_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(entry),
  });

/** The error of a refused PUT, after checking that it is a 400. */
async function refusal(response: Response): Promise<{ message: string }> {
  const body = (await response.json()) as { error: { message: string } };
  expect(response.status, JSON.stringify(body)).toBe(400);
  return body.error;
}

/** Asks for a model of the provider; resolves to the error the client got (or undefined when it was answered). */
const askProvider = (client: OpenAI, provider: string) =>
  client.chat.completions.create({ model: `${provider}/gpt-4o-mini`, messages: [{ role: 'user', content: 'hello' }] }).then(
    () => undefined,
    (err: unknown) => err as InstanceType<typeof OpenAI.APIError>,
  );

describe('admin-managed providers under the default policy: no reference, built-in provider hosts only', () => {
  let gateway: Gateway;
  let client: OpenAI;
  let listener: Listener;

  beforeAll(async () => {
    listener = await startListener();
    gateway = await startInProcess(ADMIN_ROLE);
    client = gateway.client((await gateway.createKey({ name: 'red-team' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await listener?.close();
  });

  it('refuses file:<dataDir>/admin-token as it refuses a file that does not exist, and sends the listener nothing', async () => {
    // What the gateway writes there when governance.adminToken is not set: the owner's token.
    writeFileSync(join(gateway.dataDir, 'admin-token'), `${ADMIN_TOKEN}\n`);
    const entry = (file: string) => ({ type: 'openai', baseUrl: `${listener.url}/v1`, apiKey: `file:${join(gateway.dataDir, file)}` });
    const existing = await refusal(await putProvider(gateway, 'leak', entry('admin-token')));
    const missing = await refusal(await putProvider(gateway, 'leak', entry('no-such-file')));
    expect(existing).toEqual(missing);
    expect(existing.message).toContain('routing.providers.leak.apiKey');
    expect(existing.message).not.toContain(ADMIN_TOKEN);
    expect((await askProvider(client, 'leak'))?.status).toBe(404);
    expect(listener.connections).toBe(0);
  });

  it('refuses env:DATABASE_URL as it refuses a variable that is not set, even for a built-in provider host', async () => {
    // The variable the finding read; set here when the test's PostgreSQL came from testcontainers instead.
    process.env.DATABASE_URL ??= 'postgres://gateway:db-password-0123456789@db.internal:5432/gateway';
    const existing = await refusal(await putProvider(gateway, 'leak', { type: 'openai', apiKey: 'env:DATABASE_URL' }));
    const missing = await refusal(await putProvider(gateway, 'leak', { type: 'openai', apiKey: 'env:GW_TEST_NEVER_SET_ANYWHERE' }));
    expect(existing).toEqual(missing);
    expect(existing.message).toContain('routing.providers.leak.apiKey');
    expect(existing.message).not.toContain(process.env.DATABASE_URL);
  });

  it('refuses the cloud metadata address, a loopback address and a name that resolves to one', async () => {
    for (const baseUrl of ['http://169.254.169.254/latest/meta-data', `${listener.url}/v1`, `http://localhost:${listener.port}/v1`]) {
      const { message } = await refusal(await putProvider(gateway, 'inside', { type: 'openai', baseUrl }));
      expect(message).toContain('routing.adminProviders.hosts');
      expect((await askProvider(client, 'inside'))?.status).toBe(404);
    }
    expect(listener.connections).toBe(0);
  });
});

describe('admin-managed providers under an allowlist', () => {
  const PROVIDER_KEY = 'sk-allowed-provider-key-0123456789';
  const VAULT_OWNER_SECRET = 'owner-secret-kept-in-vault-0123456789';
  let gateway: Gateway;
  let client: OpenAI;
  let listener: Listener;
  let provider: FakeOpenAI;
  let vault: FakeVault;

  beforeAll(async () => {
    recordSecret(PROVIDER_KEY);
    recordSecret(VAULT_OWNER_SECRET);
    listener = await startListener();
    provider = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    vault = await startFakeVault();
    vault.put('secret', 'llm-providers/openai', { api_key: PROVIDER_KEY });
    vault.put('secret', 'gateway/owner', { token: VAULT_OWNER_SECRET });
    gateway = await startInProcess({
      ...ADMIN_ROLE,
      secrets: { vault: { address: vault.url, token: vault.rootToken } },
      routing: {
        adminProviders: {
          // 127.0.0.1 is where the fakes listen, named exactly; "*" is any one-label name, so only the address check
          // made when connecting can stop `localhost`.
          hosts: ['127.0.0.1', '*'],
          secretReferences: [{ reference: 'vault:secret/llm-providers/*', hosts: ['127.0.0.1'] }],
        },
      },
    });
    client = gateway.client((await gateway.createKey({ name: 'red-team' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([listener?.close(), provider?.close(), vault?.close()]);
  });

  it('uses an allowed reference for the host it is paired with, end to end', async () => {
    const saved = await putProvider(gateway, 'house', { type: 'openai', baseUrl: `${provider.url}/v1`, apiKey: 'vault:secret/llm-providers/openai#api_key' });
    expect(saved.status, await saved.clone().text()).toBe(200);
    const answer = await client.chat.completions.create({ model: 'house/gpt-4o-mini', messages: [{ role: 'user', content: 'allowed' }] });
    expect(answer.choices[0]?.message.content).toBe('Fake OpenAI reply to: allowed');
    expect(provider.requests.at(-1)?.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  it('refuses the same reference aimed at another allowed host', async () => {
    const entry = { type: 'openai', baseUrl: `http://localhost:${listener.port}/v1`, apiKey: 'vault:secret/llm-providers/openai#api_key' };
    const { message } = await refusal(await putProvider(gateway, 'elsewhere', entry));
    expect(message).toContain('routing.providers.elsewhere.apiKey');
    expect(message).toContain('routing.adminProviders.secretReferences');
    expect((await askProvider(client, 'elsewhere'))?.status).toBe(404);
    expect(listener.connections).toBe(0);
  });

  it('refuses Vault paths outside the allowlist, climbing out of it included, without reading them', async () => {
    const entry = (apiKey: string) => ({ type: 'openai', baseUrl: `${provider.url}/v1`, apiKey });
    const outside = await refusal(await putProvider(gateway, 'owner', entry('vault:secret/gateway/owner#token')));
    const climbing = await refusal(await putProvider(gateway, 'owner', entry('vault:secret/llm-providers/../gateway/owner#token')));
    const missing = await refusal(await putProvider(gateway, 'owner', entry('vault:secret/gateway/nothing-here#token')));
    expect(outside).toEqual(missing);
    expect(climbing).toEqual(missing);
    expect(vault.reads.filter((path) => !path.startsWith('secret/llm-providers/'))).toEqual([]);
  });

  it('does not connect to an internal address that an allowed name resolves to', async () => {
    const saved = await putProvider(gateway, 'rebound', { type: 'openai', baseUrl: `http://localhost:${listener.port}/v1` });
    expect(saved.status, await saved.clone().text()).toBe(200);
    const failure = await askProvider(client, 'rebound');
    expect(failure?.status).toBe(502);
    expect(listener.connections).toBe(0);
  });

  it('does not follow a provider that redirects to an internal address', async () => {
    let redirected = 0;
    const redirector = await listenLocally(
      createServer((req, res) => {
        redirected++;
        res.writeHead(302, { location: `${listener.url}${req.url ?? '/'}` }).end();
      }),
    );
    try {
      const saved = await putProvider(gateway, 'redirecting', {
        type: 'openai',
        baseUrl: `${redirector.url}/v1`,
        apiKey: 'vault:secret/llm-providers/openai#api_key',
      });
      expect(saved.status, await saved.clone().text()).toBe(200);
      const failure = await askProvider(client, 'redirecting');
      expect(failure?.status).toBe(502);
      expect(failure?.message).toContain('redirect');
      expect(redirected).toBeGreaterThan(0);
      expect(listener.connections).toBe(0);
    } finally {
      await redirector.close();
    }
  });
});
