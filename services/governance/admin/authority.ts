import type { AdminAuthority } from '../../kit/admin.js';
import type { Database } from '../../kit/db/types.js';
import type { Logger } from '../../kit/log.js';
import type { GovernanceConfig } from '../config.js';
import type { Directory } from '../store/directory.js';
import { resolveOwnerToken, TokenAuthenticator } from './principals.js';
import { governanceAdminRoutes } from './routes.js';
import { AdminSessionStore } from './sessions.js';
import { OidcAuthenticator } from './sso.js';
import { placementOf } from './views.js';

/**
 * What governance gives the admin server the root runs: who the admins are
 * (static tokens, SSO) and their console sessions, its own routes, and what other services' routes
 * borrow from its directory.
 */
export function adminAuthority(directory: Directory, db: Database, config: GovernanceConfig, dataDir: string, log: Logger): AdminAuthority {
  const tokens = new TokenAuthenticator(config, resolveOwnerToken(config, dataDir, log));
  const sso = new OidcAuthenticator(config.sso, log);
  const place = placementOf(directory);
  return {
    port: config.adminPort,
    authenticate: async (token) => (sso.accepts(token) ? sso.authenticate(token) : tokens.find(token)),
    sessions: new AdminSessionStore(db, tokens, sso),
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
