import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Principal } from '../../kit/admin.js';
import type { Logger } from '../../kit/log.js';
import { writeOnce } from '../../kit/generated-file.js';
import { digestsEqual, hashSecret } from '../../kit/secrets/keys.js';
import { weakTokenProblem } from '../../kit/token-strength.js';
import type { GovernanceConfig } from '../config.js';

/**
 * Whether the principal may set, change or remove a budget on this scope:
 * only from above it, so a team's admin cannot lift the budget its customer
 * (or the gateway's operator) set on it, nor a customer's admin the customer's.
 */
export function governsBudgetOn(principal: Principal, scope: 'key' | 'team' | 'customer'): boolean {
  if (principal.team) return scope === 'key';
  if (principal.customer) return scope !== 'customer';
  return true;
}

export const ADMIN_TOKEN_FILE = 'admin-token';

/** The configured owner token, or the one generated into the data folder on first start. */
export function resolveOwnerToken(config: GovernanceConfig, dataDir: string, log: Logger): string | undefined {
  if (config.adminToken) return config.adminToken;
  if (config.adminTokens.length > 0) return undefined;
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) return readTokenFile(file);
  if (writeOnce(file, `gw-admin-${randomBytes(24).toString('base64url')}\n`))
    log.warn({ file }, 'governance.adminToken is not set: generated an owner token into this file');
  return readTokenFile(file);
}

/** The token in the file; one an operator wrote there is held to the same standard as one in config. */
function readTokenFile(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  const problem = weakTokenProblem(token);
  if (problem) throw new Error(`the admin token in ${file} ${problem} (or delete the file, and a strong one is generated at start)`);
  return token;
}

/** Static bearer tokens from config, known by their SHA-256; every one is compared, in constant time. */
export class TokenAuthenticator {
  private readonly tokens: { hash: Buffer; principal: Principal }[];

  constructor(config: GovernanceConfig, ownerToken: string | undefined) {
    this.tokens = config.adminTokens.map(({ token, name, role, customer, team }) => ({ hash: hashSecret(token), principal: { name, role, customer, team } }));
    if (ownerToken) this.tokens.push({ hash: hashSecret(ownerToken), principal: { name: 'admin-token', role: 'owner' } });
  }

  find(presented: string): Principal | undefined {
    return this.findByHash(hashSecret(presented));
  }

  /** The principal of the token with this hash as configured now (a console session keeps the hash, never the token). */
  findByHash(hash: Uint8Array): Principal | undefined {
    let found: Principal | undefined;
    for (const token of this.tokens) if (digestsEqual(hash, token.hash)) found = token.principal;
    return found;
  }
}
