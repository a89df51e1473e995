import type { AdminAuthority } from '../../kit/admin.js';
import type { Database } from '../../kit/db/types.js';
import type { Logger } from '../../kit/log.js';
import type { Secret } from '../../kit/secrets/store.js';
import type { GovernanceConfig } from '../config.js';
import type { Directory } from '../store/directory.js';
import { resolveOwnerToken, TokenAuthenticator } from './principals.js';
import { governanceAdminRoutes } from './routes.js';
import { AdminSessionStore } from './sessions.js';
import { OidcSignIn } from './oidc-sign-in.js';
import { IssuerMetadata, OidcAuthenticator } from './sso.js';
import { placementOf } from './views.js';

/**
 * What governance gives the admin server the root runs: who the admins are
 * (static tokens, SSO) and their console sessions, with the console's sign-in at the identity provider
 * when configured (the client secret given resolved), its own routes, and what other services' routes
 * borrow from its directory.
 */
export function adminAuthority(
  directory: Directory,
  db: Database,
  config: GovernanceConfig,
  clientSecret: Secret | undefined,
  dataDir: string,
  log: Logger,
): AdminAuthority {
  const tokens = new TokenAuthenticator(config, resolveOwnerToken(config, dataDir, log));
  const issuer = new IssuerMetadata(config.sso.issuer);
  const sso = new OidcAuthenticator(config.sso, issuer, log);
  const sessions = new AdminSessionStore(db, tokens, sso);
  const place = placementOf(directory);
  return {
    port: config.adminPort,
    authenticate: async (token) => (sso.accepts(token) ? sso.authenticate(token) : tokens.find(token)),
    sessions,
    browserSignIn: clientSecret && new OidcSignIn(config.sso, issuer, clientSecret, sessions, log),
    routes: governanceAdminRoutes(directory, db),
    placements: {
      team: (teamId) => {
        const team = directory.teams.get(teamId);
        return team && place.team(team);
      },
      key: (keyId) => {
        const key = directory.keys.get(keyId);
        return key && place.key(key);
      },
    },
  };
}
