import { describe, expect, it } from 'vitest';
import { createLogger } from '../../kit/log.js';
import type { Secret } from '../../kit/secrets/store.js';
import { McpOAuth } from './oauth.js';

const noSecrets = {
  get: (): Secret => {
    throw new Error('no secrets in this test');
  },
  load: async () => undefined,
  save: async () => undefined,
};

/** What the SDK's auth() does to the provider when it starts an authorization: a state, then its PKCE verifier. */
function startAuthorization(oauth: McpOAuth, verifier: string): string {
  const state = oauth.state();
  oauth.saveCodeVerifier(verifier);
  return state;
}

describe('MCP OAuth client: authorization code flow', () => {
  const setup = () =>
    new McpOAuth(
      'files',
      {
        grant: 'authorization_code',
        issuer: 'https://auth.example',
        clientId: 'gateway',
        redirectUrl: 'https://gw.example/admin/mcp/oauth/callback',
        tokenStore: 'file:/tmp/unused',
      },
      noSecrets,
      createLogger({ level: 'silent' }),
    );

  it("keeps an admin's authorization usable while reconnect attempts start their own, and exchanges its own verifier", () => {
    const oauth = setup();
    const admins = startAuthorization(oauth, 'verifier-of-the-admin');
    // The reconnect loop retries while the admin is on the consent page; each retry starts an authorization.
    const reconnects = [startAuthorization(oauth, 'verifier-of-a-retry'), startAuthorization(oauth, 'verifier-of-another-retry')];
    expect(admins.startsWith('files.')).toBe(true);
    expect(oauth.takeState(admins)).toBe(true);
    expect(oauth.codeVerifier()).toBe('verifier-of-the-admin');
    // Single use: the sign-in ended every authorization in progress.
    expect(oauth.takeState(admins)).toBe(false);
    expect(oauth.takeState(reconnects[0]!)).toBe(false);
  });

  it('refuses a state it did not issue, and has no verifier before a callback', () => {
    const oauth = setup();
    startAuthorization(oauth, 'v');
    expect(oauth.takeState('files.forged')).toBe(false);
    expect(() => oauth.codeVerifier()).toThrow(/no authorization is in progress/);
  });
});
