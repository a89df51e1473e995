import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../../test/harness/databases.js';
import { testToken } from '../../../test/harness/infra.js';
import { gatewayConfig } from '../../gateway/config.js';
import type { Principal, Role } from '../../kit/admin.js';
import { migrate } from '../../kit/db/migrate.js';
import { createLogger } from '../../kit/log.js';
import { governanceMigrations } from '../migrations.js';
import { TokenAuthenticator } from './principals.js';
import { AdminSessionStore, SESSION_HOURS } from './sessions.js';
import type { OidcAuthenticator } from './sso.js';

const log = createLogger({ level: 'silent' });
const TOKEN = testToken('ops');

/** The admins as configured: TOKEN with the role given, or not at all. */
function tokens(role?: Role): TokenAuthenticator {
  const governance = gatewayConfig.parse({}).governance;
  return new TokenAuthenticator({ ...governance, adminTokens: role ? [{ name: 'ops', token: TOKEN, role }] : [] }, undefined);
}

/** An identity provider that takes any JWT-shaped token for the principal given. */
function sso(principal: Principal | undefined): OidcAuthenticator {
  return { accepts: (token: string) => token.split('.').length === 3, authenticate: async () => principal } as unknown as OidcAuthenticator;
}

const jwt = (claims: object) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;

// Two stores on one database stand for two governance replicas (or workers), which may be configured differently after a change.
describe.each(['postgres', 'pglite'] as const)('console sessions on %s', (kind) => {
  let handle: Awaited<ReturnType<(typeof DATABASE_KINDS)['postgres']>> | undefined;
  afterEach(async () => handle?.cleanup());

  async function database() {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, 'governance', governanceMigrations, log);
    return handle.db;
  }

  it('stands for the token’s principal on every replica until closed, and stores neither the id nor the token', async () => {
    const db = await database();
    const here = new AdminSessionStore(db, tokens('admin'), sso(undefined));
    const there = new AdminSessionStore(db, tokens('admin'), sso(undefined));
    expect(await here.open(testToken('unknown'))).toBeUndefined();
    const opened = (await here.open(TOKEN))!;
    expect(opened.principal).toEqual({ name: 'ops', role: 'admin' });
    expect(opened.expiresAt.getTime() - Date.now()).toBeGreaterThan((SESSION_HOURS * 3600 - 60) * 1000);
    expect(await there.find(opened.id)).toEqual({ name: 'ops', role: 'admin' });

    const { rows } = await db.query('SELECT * FROM admin_sessions');
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(opened.id);
    expect(stored).not.toContain(TOKEN);

    await there.close(opened.id);
    expect(await here.find(opened.id)).toBeUndefined();
  });

  it('follows the configuration: a changed role applies at once, a removed token ends its sessions', async () => {
    const db = await database();
    const { id } = (await new AdminSessionStore(db, tokens('owner'), sso(undefined)).open(TOKEN))!;
    expect(await new AdminSessionStore(db, tokens('viewer'), sso(undefined)).find(id)).toEqual({ name: 'ops', role: 'viewer' });
    expect(await new AdminSessionStore(db, tokens(undefined), sso(undefined)).find(id)).toBeUndefined();
  });

  it('keeps the principal an identity provider vouched for in the browser, on every replica, for the session’s hours', async () => {
    const db = await database();
    const principal: Principal = { name: 'ana@example.com', role: 'viewer', team: 'search' };
    const opened = await new AdminSessionStore(db, tokens(undefined), sso(undefined)).openFor(principal);
    expect(opened.expiresAt.getTime() - Date.now()).toBeGreaterThan((SESSION_HOURS * 3600 - 60) * 1000);
    expect(await new AdminSessionStore(db, tokens('owner'), sso(undefined)).find(opened.id)).toEqual(principal);
  });

  it('ends when it expires, and an SSO sign-in expires with its token', async () => {
    const db = await database();
    const principal: Principal = { name: 'ana@example.com', role: 'auditor' };
    const store = new AdminSessionStore(db, tokens(undefined), sso(principal));
    const exp = Math.floor(Date.now() / 1000) + 600;
    const opened = (await store.open(jwt({ sub: 'ana', exp })))!;
    expect(opened.expiresAt.getTime()).toBe(exp * 1000);
    expect(await store.find(opened.id)).toEqual(principal);

    await db.query("UPDATE admin_sessions SET expires_at = now() - interval '1 second'");
    expect(await store.find(opened.id)).toBeUndefined();
  });
});
