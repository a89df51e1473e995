import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gatewayConfig } from '../gateway/config.js';
import { configProblems } from '../../test/harness/config.js';
import { loadConfig } from '../kit/config.js';
import { createLogger } from '../kit/log.js';
import { MIN_TOKEN_LENGTH } from '../kit/token-strength.js';
import { ADMIN_TOKEN_FILE, resolveOwnerToken } from './admin/principals.js';

const random = (length: number) => randomBytes(length).toString('hex').slice(0, length);

describe('admin tokens: start-up refuses short and known ones', () => {
  it('refuses the value compose used to ship, and placeholders from examples, naming the key and never quoting the token', () => {
    for (const token of ['change-me-admin-token', `change-me-${random(40)}`, `<long random string ${random(32)}>`]) {
      const message = configProblems({ env: { GATEWAY_GOVERNANCE__ADMIN_TOKEN: token } }).join('\n');
      expect(message).toContain('governance.adminToken');
      expect(message).toContain('published or placeholder value');
      expect(message).not.toContain(token);
    }
  });

  it(`refuses a token shorter than ${MIN_TOKEN_LENGTH} characters, in adminToken and in adminTokens; takes ${MIN_TOKEN_LENGTH}, or none (one is generated)`, () => {
    const enough = random(MIN_TOKEN_LENGTH);
    expect(loadConfig(gatewayConfig, { env: { GATEWAY_GOVERNANCE__ADMIN_TOKEN: enough } }).governance.adminToken).toBe(enough);
    expect(loadConfig(gatewayConfig, { env: {} }).governance.adminToken).toBe('');
    const short = random(MIN_TOKEN_LENGTH - 1);
    const owner = configProblems({ env: { GATEWAY_GOVERNANCE__ADMIN_TOKEN: short } }).join('\n');
    expect(owner).toContain(`governance.adminToken: got a ${short.length}-character value (not shown: secret)`);
    expect(owner).toContain(`at least ${MIN_TOKEN_LENGTH} random characters`);
    expect(owner).not.toContain(short);

    const file = join(mkdtempSync(join(tmpdir(), 'gw-tokens-')), 'gateway.yaml');
    writeFileSync(
      file,
      `governance:\n  adminTokens:\n    - { name: ci, role: viewer, token: ${random(MIN_TOKEN_LENGTH)} }\n    - { name: bot, role: admin, token: ${short} }\n`,
    );
    const listed = configProblems({ file, env: {} });
    expect(listed).toEqual([expect.stringContaining('governance.adminTokens.1.token')]);
    expect(listed[0]).not.toContain(short);
  });

  it('generates a strong owner token into the data folder, readable by its owner only, and refuses a weak one written there', () => {
    const config = gatewayConfig.parse({}).governance;
    const log = createLogger({ level: 'silent' });
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-data-'));
    const generated = resolveOwnerToken(config, dataDir, log)!;
    expect(generated.length).toBeGreaterThanOrEqual(MIN_TOKEN_LENGTH);
    expect(statSync(join(dataDir, ADMIN_TOKEN_FILE)).mode & 0o777).toBe(0o600);
    expect(resolveOwnerToken(config, dataDir, log)).toBe(generated);

    const weak = mkdtempSync(join(tmpdir(), 'gw-data-'));
    writeFileSync(join(weak, ADMIN_TOKEN_FILE), 'letmein\n');
    expect(() => resolveOwnerToken(config, weak, log)).toThrow(`the admin token in ${join(weak, ADMIN_TOKEN_FILE)} is 7 characters long`);
    expect(readFileSync(join(weak, ADMIN_TOKEN_FILE), 'utf8')).toBe('letmein\n');
  });

  it('runs compose with no admin token set (governance generates one) and refuses the value compose used to ship', () => {
    const file = fileURLToPath(new URL('../../deploy/gateway.compose.yaml', import.meta.url));
    expect(loadConfig(gatewayConfig, { file, env: {} }).governance.adminToken).toBe('');
    expect(() => loadConfig(gatewayConfig, { file, env: { GATEWAY_ADMIN_TOKEN: 'change-me-admin-token' } })).toThrow('governance.adminToken');
  });
});
