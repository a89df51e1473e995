import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatewayConfig } from '../gateway/config.js';
import { ConfigError, loadConfig } from './config.js';

function file(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-config-')), 'gateway.yaml');
  writeFileSync(path, yaml);
  return path;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('starts from defaults that run everything embedded with the mock provider', () => {
    const config = loadConfig(gatewayConfig, { env: {} });
    expect(config.ingress.port).toBe(8080);
    expect(config.nats.url).toBe('');
    expect(config.database.url).toBe('');
    expect(Object.keys(config.routing.providers)).toEqual(['mock']);
    expect(Object.isFrozen(config.routing)).toBe(true);
  });

  it('names the key, the value and what was expected when a value is wrong', () => {
    const found = problems(() => loadConfig(gatewayConfig, { file: file('ingress:\n  port: eighty\n'), env: {} }));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('ingress.port');
    expect(found[0]).toContain('"eighty"');
    expect(found[0]).toMatch(/expected number/);
  });

  it('never shows the value of a secret it refuses, such as a password the environment gave as a number', () => {
    const found = problems(() =>
      loadConfig(gatewayConfig, { env: { GATEWAY_NATS__AUTH__PASSWORD: '12345678', GATEWAY_GOVERNANCE__ADMIN_TOKEN: '987654321987654321' } }),
    );
    expect(found).toEqual([
      'nats.auth.password: got a value (not shown: secret); Invalid input: expected string, received number',
      'governance.adminToken: got a value (not shown: secret); Invalid input: expected string, received number',
    ]);
  });

  it('rejects unknown keys, so a typo does not pass silently', () => {
    const found = problems(() => loadConfig(gatewayConfig, { file: file('ingress:\n  prot: 8080\n'), env: {} }));
    expect(found[0]).toContain('ingress');
    expect(found[0]).toContain('"prot"');
  });

  it('checks provider entries by their type', () => {
    const found = problems(() =>
      loadConfig(gatewayConfig, { file: file('routing:\n  providers:\n    openai:\n      type: openai\n      baseUrl: not-a-url\n'), env: {} }),
    );
    expect(found[0]).toContain('routing.providers.openai.baseUrl');
    expect(found[0]).toContain('"not-a-url"');
  });

  it('takes prices the ledger holds exactly, and refuses one with more than six decimals per million tokens', () => {
    const prices = (input: string) =>
      loadConfig(gatewayConfig, { file: file(`pricing:\n  models:\n    acme/m: { input: ${input}, output: 1, cacheWrite1h: 2, reasoning: 3 }\n`), env: {} });
    expect(prices('0.003625').pricing.models['acme/m']).toEqual({ input: 0.003625, output: 1, cacheWrite1h: 2, reasoning: 3 });
    expect(problems(() => prices('0.0000001'))).toEqual([expect.stringMatching(/^pricing\.models\.acme\/m\.input: .*at most 6 decimals/)]);
  });

  it('requires an embedding model when semantic caching is on', () => {
    const found = problems(() => loadConfig(gatewayConfig, { file: file('caching:\n  semantic:\n    enabled: true\n'), env: {} }));
    expect(found).toEqual([expect.stringMatching(/^caching\.semantic\.embeddingModel: .*required when caching\.semantic\.enabled is true/)]);
  });

  it('refuses a guardrail policy that names an unknown detector or policy, naming the key', () => {
    const yaml = [
      'guardrails:',
      '  policies:',
      '    baseline:',
      '      rules:',
      '        - { name: no-keys, detectors: [secrets, secret.openai], action: block }',
      '  attach:',
      '    teams: { team-a: [baseline, lenient] }',
      '',
    ].join('\n');
    expect(problems(() => loadConfig(gatewayConfig, { file: file(yaml), env: {} }))).toEqual([
      expect.stringMatching(/^guardrails\.policies\.baseline\.rules\.0\.detectors\.1: got "secret\.openai"; no detector or group is named secret\.openai/),
      expect.stringMatching(/^guardrails\.attach\.teams\.team-a\.1: got "lenient"; no policy is named lenient/),
    ]);
    const valid = loadConfig(gatewayConfig, { file: file(yaml.replace(', secret.openai', '').replace(', lenient', '')), env: {} });
    expect(valid.guardrails.attach.teams).toEqual({ 'team-a': ['baseline'] });
  });

  it('substitutes ${VAR} and ${VAR:-default}, keeping numbers numbers', () => {
    const config = loadConfig(gatewayConfig, {
      file: file(
        'ingress:\n  port: ${PORT}\nrouting:\n  providers:\n    openai:\n      type: openai\n      baseUrl: https://api.openai.com/v1\n      apiKey: ${OPENAI_KEY:-none}\n',
      ),
      env: { PORT: '9999' },
    });
    expect(config.ingress.port).toBe(9999);
    const openai = config.routing.providers.openai;
    expect(openai?.type === 'openai' && openai.apiKey).toBe('none');
  });

  it('fails naming the variable when ${VAR} is not set and has no default', () => {
    const found = problems(() => loadConfig(gatewayConfig, { file: file('governance:\n  adminToken: ${ADMIN_TOKEN}\n'), env: {} }));
    expect(found[0]).toContain('governance.adminToken');
    expect(found[0]).toContain('ADMIN_TOKEN');
  });

  it('lets GATEWAY_<SECTION>__<KEY> environment variables override the file', () => {
    const config = loadConfig(gatewayConfig, {
      file: file('server:\n  opsPort: 1000\n'),
      env: { GATEWAY_SERVER__OPS_PORT: '2000', GATEWAY_NATS__URL: 'nats://10.0.0.5:4222', GATEWAY_CACHING__ENABLED: 'false' },
    });
    expect(config.server.opsPort).toBe(2000);
    expect(config.nats.url).toBe('nats://10.0.0.5:4222');
    expect(config.caching.enabled).toBe(false);
  });

  it("lets GATEWAY_DATA_DIR set the top-level dataDir, and leaves the CLI's own variables alone", () => {
    const config = loadConfig(gatewayConfig, {
      env: { GATEWAY_DATA_DIR: '/var/lib/gateway', GATEWAY_CONFIG: 'other.yaml', GATEWAY_ADMIN_URL: 'http://127.0.0.1:1' },
    });
    expect(config.dataDir).toBe('/var/lib/gateway');
    // Sections are not set wholesale from a variable without "__".
    expect(loadConfig(gatewayConfig, { env: { GATEWAY_SERVER: 'x' } }).server).toMatchObject({ host: '127.0.0.1', workers: 1 });
  });

  it('reports a file that cannot be read or parsed', () => {
    expect(problems(() => loadConfig(gatewayConfig, { file: '/nonexistent/gateway.yaml', env: {} }))[0]).toContain('/nonexistent/gateway.yaml');
    expect(problems(() => loadConfig(gatewayConfig, { file: file('ingress: [unclosed\n'), env: {} }))[0]).toContain('not valid YAML');
  });
});
