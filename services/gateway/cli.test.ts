import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { spawnService } from '../../test/harness/gateway.js';
import { freePort, requireInfra, testToken } from '../../test/harness/infra.js';
import { recordSecret } from '../../test/harness/leaks.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

async function gateway(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'services/gateway/cli.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('gateway CLI', () => {
  it('prints help for the program and for each command', async () => {
    expect((await gateway(['--help'])).stdout).toContain('gateway start');
    const start = await gateway(['start', '--help']);
    expect(start.code).toBe(0);
    expect(start.stdout).toContain('--services');
    expect(start.stdout).toContain('--workers <n>');
    expect(start.stdout).toContain('ingress, routing, caching, governance, audit, metering');
    expect((await gateway(['keys', '--help'])).stdout).toContain('keys create --name');
    expect((await gateway(['config', '--help'])).stdout).toContain('config check');
    expect((await gateway(['dead-letters', '--help'])).stdout).toContain('--consumer <name>');
    expect((await gateway(['certs', '--help'])).stdout).toContain('gateway certs init <dir>');
    expect((await gateway(['nats', '--help'])).stdout).toContain('gateway nats config [--config <file>] [--user <services>]');
  });

  it('makes a development CA and a certificate per service that names it, keys readable by their owner only', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'gw-cli-')), 'certs');
    const result = await gateway(['certs', 'init', dir, '--group', 'front=ingress,routing']);
    expect(result.code).toBe(0);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    expect(ca.ca).toBe(true);
    for (const [name, services] of [
      ['audit', ['audit']],
      ['front', ['ingress', 'routing']],
    ] as const) {
      const certificate = new X509Certificate(readFileSync(join(dir, `${name}.crt`)));
      expect(certificate.checkIssued(ca) && certificate.verify(ca.publicKey)).toBe(true);
      expect(certificate.ca).toBe(false);
      for (const service of services) expect(certificate.subjectAltName).toContain(`URI:spiffe://ai-gateway/${service}`);
      expect(statSync(join(dir, `${name}.key`)).mode & 0o777).toBe(0o600);
    }
    expect(result.stdout).toContain(join(dir, 'metering.key'));
  });

  it('runs as the README says: defaults serve this machine only; keys create, then a call with the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-front-door-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, `dataDir: ${join(dir, 'data')}\n`);
    const ports = { ingress: await freePort(), admin: await freePort() };
    const env = { GATEWAY_INGRESS__PORT: String(ports.ingress), GATEWAY_GOVERNANCE__ADMIN_PORT: String(ports.admin) };
    const started = await spawnService(file, 'all', env);
    try {
      const created = await gateway(['keys', 'create', '--name', 'demo', '--config', file], env);
      expect(created.code, created.stderr).toBe(0);
      const key = created.stdout.trim();
      recordSecret(key);
      const answer = await fetch(`http://127.0.0.1:${ports.ingress}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock/echo', messages: [{ role: 'user', content: 'Hello!' }] }),
      });
      expect(await answer.json()).toMatchObject({ choices: [{ message: { content: 'This is a mock response to: Hello!' } }] });
      // All of 127.0.0.0/8 is this machine, but a listener bound to 127.0.0.1 takes no other address of it.
      for (const port of [ports.ingress, ports.admin, new URL(started.opsUrl).port]) {
        const refused = await fetch(`http://127.0.0.2:${port}/healthz`).then(
          () => undefined,
          (err: Error) => err.cause,
        );
        expect(refused, `port ${port}`).toMatchObject({ code: 'ECONNREFUSED' });
      }
    } finally {
      await started.kill();
    }
  });

  it('with governance.adminTokens set, says which token keys create needs instead of sending the generated one, and names the token refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-admin-tokens-'));
    const data = join(dir, 'data');
    // A token generated by an earlier start, before adminTokens were set.
    mkdirSync(data);
    writeFileSync(join(data, 'admin-token'), `${testToken('gw-admin')}\n`);
    const ops = testToken('ops');
    recordSecret(ops);
    const gatewayFile = join(dir, 'gateway.yaml');
    writeFileSync(gatewayFile, `dataDir: ${data}\ngovernance:\n  adminTokens:\n    - { name: ops, role: owner, token: ${ops} }\n`);
    // The same data folder, without the adminTokens: what the CLI sees when run without the gateway's config.
    const bareFile = join(dir, 'bare.yaml');
    writeFileSync(bareFile, `dataDir: ${data}\n`);
    const env = { GATEWAY_INGRESS__PORT: String(await freePort()), GATEWAY_GOVERNANCE__ADMIN_PORT: String(await freePort()) };
    const started = await spawnService(gatewayFile, 'all', env);
    try {
      const unsure = await gateway(['keys', 'create', '--name', 'demo', '--config', gatewayFile], env);
      expect(unsure.code).toBe(1);
      expect(unsure.stderr).toContain(`governance.adminTokens is set, so the gateway no longer accepts the token generated into ${join(data, 'admin-token')}`);
      expect(unsure.stderr).toContain('pass one with --admin-token <token> or GATEWAY_ADMIN_TOKEN, e.g. the token of ops (owner)');

      const refused = await gateway(['keys', 'create', '--name', 'demo', '--config', bareFile], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`admin API answered 401`);
      expect(refused.stderr).toContain(`the gateway does not accept the token in ${join(data, 'admin-token')}`);
      expect(refused.stderr).toContain('--admin-token <token> or GATEWAY_ADMIN_TOKEN');

      const created = await gateway(['keys', 'create', '--name', 'demo', '--config', gatewayFile], { ...env, GATEWAY_ADMIN_TOKEN: ops });
      expect(created.code, created.stderr).toBe(0);
      recordSecret(created.stdout.trim());
      expect(created.stdout.trim()).toMatch(/^sk-gw-/);
      expect(unsure.stderr + refused.stderr + created.stderr).not.toContain(ops);
    } finally {
      await started.kill();
    }
  });

  it('stops at start-up on a bad config, naming the key, the value and what was expected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'server:\n  opsPort: -5\n');
    for (const args of [
      ['config', 'check', '--config', file],
      ['start', '--config', file],
    ]) {
      const result = await gateway(args);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('server.opsPort');
      expect(result.stderr).toContain('-5');
      expect(result.stderr).toMatch(/expected number to be >=0/);
    }
  });

  it('refuses to start with the admin token compose used to ship, naming the key and not the token', async () => {
    // Ports and a data folder of its own, should it start after all.
    const result = await gateway(['start'], {
      GATEWAY_CONFIG: '',
      GATEWAY_GOVERNANCE__ADMIN_TOKEN: 'change-me-admin-token',
      GATEWAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'gw-cli-')),
      GATEWAY_SERVER__OPS_PORT: String(await freePort()),
      GATEWAY_INGRESS__PORT: String(await freePort()),
      GATEWAY_GOVERNANCE__ADMIN_PORT: String(await freePort()),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('governance.adminToken: got a 21-character value (not shown: secret)');
    expect(result.stderr).not.toContain('change-me-admin-token');
  });

  it('exits with status 1 when a service cannot start, so a supervisor restarts it (here: its event spool is held by a live process)', async () => {
    const { natsUrl } = requireInfra();
    const dir = mkdtempSync(join(tmpdir(), 'gw-spool-'));
    // This test's own process holds the spool.
    writeFileSync(join(dir, 'owner.lock'), String(process.pid));
    const result = await gateway(['start', '--services', 'ingress'], {
      GATEWAY_CONFIG: '',
      GATEWAY_NATS__URL: natsUrl,
      GATEWAY_NATS__INSECURE: 'true',
      GATEWAY_EVENTS__SPOOL__DIR: dir,
      GATEWAY_INGRESS__PORT: String(await freePort()),
      GATEWAY_SERVER__OPS_PORT: String(await freePort()),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`in use by process ${process.pid}`);
  });

  it('refuses to run a subset of services without a shared bus, saying which key to set', async () => {
    const result = await gateway(['start', '--services', 'ingress'], { GATEWAY_CONFIG: '', GATEWAY_SERVER__OPS_PORT: String(await freePort()) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('nats.url');
  });

  it('refuses a NATS connection without credentials unless nats.insecure, naming keys and never a value', async () => {
    const env = { GATEWAY_CONFIG: '', GATEWAY_SERVER__OPS_PORT: String(await freePort()), GATEWAY_NATS__URL: 'nats://127.0.0.1:4222' };
    const anonymous = await gateway(['start', '--services', 'ingress'], env);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('nats.url needs credentials');
    expect(anonymous.stderr).toContain('nats.insecure: true');
    const twice = await gateway(['start', '--services', 'ingress'], {
      ...env,
      GATEWAY_NATS__AUTH__PASSWORD: 'pw-one-0123456789',
      GATEWAY_NATS__AUTH__TOKEN: 'tok-two-0123456789',
    });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('NATS takes one credential, but nats.auth.password and nats.auth.token are set');
    expect(twice.stderr).not.toMatch(/pw-one|tok-two/);
  });

  it('refuses workers without a shared bus and database, and a worker count that is not a whole number', async () => {
    const env = { GATEWAY_CONFIG: '', GATEWAY_SERVER__OPS_PORT: String(await freePort()) };
    const bus = await gateway(['start', '--workers', '2'], env);
    expect(bus.code).toBe(1);
    expect(bus.stderr).toContain('2 workers need a shared event bus: set nats.url');
    const database = await gateway(['start', '--workers', '2'], { ...env, GATEWAY_NATS__URL: 'nats://127.0.0.1:4222' });
    expect(database.code).toBe(1);
    expect(database.stderr).toContain('2 workers need a shared database: set database.url');
    const count = await gateway(['start', '--workers', 'two'], env);
    expect(count.code).toBe(1);
    expect(count.stderr).toContain('--workers: expected a whole number from 1 to 64, got "two"');
  });

  it('rejects unknown services and commands with a usage hint', async () => {
    const services = await gateway(['start', '--services', 'ingress,billing']);
    expect(services.code).toBe(1);
    expect(services.stderr).toContain('unknown service "billing"');
    const command = await gateway(['launch']);
    expect(command.code).toBe(1);
    expect(command.stderr).toContain('unknown command "launch"');
  });

  it('import litellm: help, and errors that say what to give it', async () => {
    const help = (await gateway(['import', '--help'])).stdout;
    expect(help).toContain('gateway import litellm --config <config.yaml> [--out <file>]');
    expect(help).toContain('gateway import litellm --database <postgres url> [--schema <name>] [--dry-run]');
    expect((await gateway(['import', 'litellm', '--config', 'c.yaml', '--database', 'postgresql://h/db'])).stderr).toContain(
      'error: import litellm: give --config or --database, one at a time',
    );
    const other = await gateway(['import', 'portkey']);
    expect(other.stderr).toContain('error: expected: gateway import litellm --config <config.yaml>');
    expect((await gateway(['import', 'litellm'])).stderr).toContain("error: import litellm: give LiteLLM's proxy config with --config <config.yaml>");
    const missing = await gateway(['import', 'litellm', '--config', '/nonexistent/config.yaml']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error: import litellm: cannot read /nonexistent/config.yaml (ENOENT); give the path of LiteLLM's config.yaml");
    const own = join(mkdtempSync(join(tmpdir(), 'gw-cli-')), 'gateway.yaml');
    writeFileSync(own, 'routing:\n  models: {}\n');
    const notLiteLLM = await gateway(['import', 'litellm', '--config', own]);
    expect(notLiteLLM.code).toBe(1);
    expect(notLiteLLM.stderr).toContain(`error: ${own} looks like this gateway's own configuration, not LiteLLM's`);
  });
});
