import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { AdminSessions, Principal } from '../../kit/admin.js';
import type { Database } from '../../kit/db/types.js';
import { hashSecret } from '../../kit/secrets/keys.js';
import type { TokenAuthenticator } from './principals.js';
import type { OidcAuthenticator } from './sso.js';

/** How long a console session lasts from sign-in; an SSO token's own expiry ends it sooner. */
export const SESSION_HOURS = 8;

interface Row {
  token_hash: Buffer | null;
  principal: Principal | string;
}

/**
 * Console sessions in governance's database, so every replica and worker
 * finds them. A row holds the SHA-256 of the session id (a reader of the
 * table cannot take a session over) and, for a static token, the token's
 * hash: its principal is looked up as configured now at every use, so a token
 * removed from the configuration ends its sessions and a changed role applies
 * at once. An SSO token's principal is kept as it was at sign-in.
 */
export class AdminSessionStore implements AdminSessions {
  constructor(
    private readonly db: Database,
    private readonly tokens: TokenAuthenticator,
    private readonly sso: OidcAuthenticator,
  ) {}

  async open(token: string): Promise<{ id: string; principal: Principal; expiresAt: Date } | undefined> {
    const now = Date.now();
    let expiresAt = new Date(now + SESSION_HOURS * 3_600_000);
    let tokenHash: Buffer | null = null;
    let principal: Principal | undefined;
    if (this.sso.accepts(token)) {
      principal = await this.sso.authenticate(token);
      // Verified above, so its exp is there: the session never outlives the identity provider's word.
      const exp = decodeJwt(token).exp;
      if (exp !== undefined && exp * 1000 < expiresAt.getTime()) expiresAt = new Date(exp * 1000);
    } else {
      principal = this.tokens.find(token);
      tokenHash = hashSecret(token);
    }
    if (!principal) return undefined;
    return this.store(principal, tokenHash, expiresAt);
  }

  /** A session for a principal an identity provider vouched for in the browser (sign-in with OpenID Connect): kept as it is now, for SESSION_HOURS. */
  async openFor(principal: Principal): Promise<{ id: string; principal: Principal; expiresAt: Date }> {
    return this.store(principal, null, new Date(Date.now() + SESSION_HOURS * 3_600_000));
  }

  private async store(principal: Principal, tokenHash: Buffer | null, expiresAt: Date) {
    const id = randomBytes(32).toString('base64url');
    await this.db.query('DELETE FROM admin_sessions WHERE expires_at <= $1', [new Date()]);
    await this.db.query('INSERT INTO admin_sessions (id_hash, token_hash, principal, expires_at) VALUES ($1, $2, $3, $4)', [
      hashSecret(id),
      tokenHash,
      JSON.stringify(principal),
      expiresAt,
    ]);
    return { id, principal, expiresAt };
  }

  async find(id: string): Promise<Principal | undefined> {
    const { rows } = await this.db.query<Row>('SELECT token_hash, principal FROM admin_sessions WHERE id_hash = $1 AND expires_at > $2', [
      hashSecret(id),
      new Date(),
    ]);
    const row = rows[0];
    if (!row) return undefined;
    if (row.token_hash) return this.tokens.findByHash(row.token_hash);
    return typeof row.principal === 'string' ? (JSON.parse(row.principal) as Principal) : row.principal;
  }

  async close(id: string): Promise<void> {
    await this.db.query('DELETE FROM admin_sessions WHERE id_hash = $1', [hashSecret(id)]);
  }
}
