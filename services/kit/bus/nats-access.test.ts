import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeys } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { runNatsServer } from '../../../test/harness/nats-server.js';
import { createLogger } from '../log.js';
import { SecretStore } from '../secrets/store.js';
import { natsAccess, natsAccessProblems, withoutCredentials, type NatsAccessSettings } from './nats-access.js';

const noAuth = { user: '', password: '', token: '', nkeySeedFile: '', credsFile: '' };
const noTls = { caFile: '', certFile: '', keyFile: '' };
const settings = (auth: Partial<NatsAccessSettings['auth']>, more: Partial<NatsAccessSettings> = {}): NatsAccessSettings => ({
  auth: { ...noAuth, ...auth },
  tls: noTls,
  insecure: true,
  ...more,
});

/** A plain nats-server (no TLS) authenticating as its configuration says. */
async function serverWith(authorization: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-nats-auth-'));
  writeFileSync(join(dir, 'nats.conf'), `authorization { ${authorization} }\n`);
  const server = await runNatsServer(join(dir, 'nats.conf'), env, dir);
  return { ...server, url: `nats://127.0.0.1:${server.port}`, dir };
}

describe('NATS credentials (nats.auth, nats.tls, nats.insecure)', () => {
  it('signs in with a token reference, or with an NKey seed file, and not without them', async () => {
    process.env.GW_TEST_NATS_TOKEN = 'tok-0123456789abcdef';
    const secrets = new SecretStore(
      { refreshSeconds: 60, vault: { address: '', namespace: '', token: '', appRole: { mount: 'approle', roleId: '', secretId: '' } } },
      createLogger({ level: 'silent' }),
    );
    await secrets.prepare(['env:GW_TEST_NATS_TOKEN']);
    const tokenServer = await serverWith('token: $TOKEN', { TOKEN: process.env.GW_TEST_NATS_TOKEN });
    try {
      const nc = await connect({
        servers: tokenServer.url,
        ...natsAccess(settings({ token: 'env:GW_TEST_NATS_TOKEN' }), secrets, '_INBOX.ingress', 'ingress'),
      });
      await nc.close();
      await expect(connect({ servers: tokenServer.url, reconnect: false })).rejects.toThrow(/Authorization Violation/);
    } finally {
      await tokenServer.stop();
    }

    const user = nkeys.createUser();
    const nkeyServer = await serverWith(`users = [ { nkey: ${user.getPublicKey()} } ]`);
    try {
      const seedFile = join(nkeyServer.dir, 'ingress.nk');
      writeFileSync(seedFile, user.getSeed());
      const nc = await connect({ servers: nkeyServer.url, ...natsAccess(settings({ nkeySeedFile: seedFile }), secrets, '_INBOX.ingress', 'ingress') });
      await nc.close();
      const stranger = join(nkeyServer.dir, 'stranger.nk');
      writeFileSync(stranger, nkeys.createUser().getSeed());
      await expect(
        connect({ servers: nkeyServer.url, reconnect: false, ...natsAccess(settings({ nkeySeedFile: stranger }), secrets, '_INBOX.ingress', 'ingress') }),
      ).rejects.toThrow(/Authorization Violation/);
    } finally {
      await nkeyServer.stop();
    }
  });

  it('refuses a NATS without TLS unless nats.insecure, rather than sending the credential in the clear', async () => {
    const server = await serverWith('users = [ { user: ingress, password: pw-secret-0123 } ]');
    try {
      const secured = natsAccess(settings({ password: 'pw-secret-0123' }, { insecure: false }), { get: (value) => ({ value }) }, '_INBOX.ingress', 'ingress');
      await expect(connect({ servers: server.url, reconnect: false, ...secured })).rejects.toThrow(/server does not support 'tls'/);
      // The user is named after the services of the process when only a password is set.
      const insecure = natsAccess(settings({ password: 'pw-secret-0123' }), { get: (value) => ({ value }) }, '_INBOX.ingress', 'ingress');
      await (await connect({ servers: server.url, ...insecure })).close();
    } finally {
      await server.stop();
    }
  });

  it('names the keys of a configuration it cannot connect with, never their values', () => {
    expect(natsAccessProblems(settings({}, { insecure: false }))).toEqual([expect.stringContaining('nats.url needs credentials')]);
    expect(natsAccessProblems(settings({}))).toEqual([]);
    const problems = natsAccessProblems(
      settings({ user: 'ingress', token: 'tok-secret-value', credsFile: '/run/nats.creds' }, { tls: { ...noTls, certFile: '/c.pem' } }),
    );
    expect(problems).toEqual([
      'NATS takes one credential, but nats.auth.token and nats.auth.credsFile are set',
      'nats.auth.user is set without nats.auth.password',
      'nats.tls.certFile and nats.tls.keyFile go together',
    ]);
    expect(withoutCredentials('nats://ingress:pw@nats-1:4222,tls://n2:4222')).toBe('nats://nats-1:4222,tls://n2:4222');
  });
});
