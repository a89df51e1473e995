import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AdminProviderPolicy, adminProvidersConfig, isInternalAddress } from './admin-providers.js';
import { PROVIDER_TYPES } from './providers/catalog.js';
import { providerConfig, type ProviderConfig } from './providers/registry.js';

const policy = (config: unknown = {}) => new AdminProviderPolicy(adminProvidersConfig.parse(config));
const entry = (fields: Record<string, unknown>) => providerConfig.parse(fields) as ProviderConfig;
const openai = (baseUrl: string) => entry({ type: 'openai', baseUrl });
const key = (value: string) => [{ at: 'p.apiKey', value }];

describe('what the operator lets admin-managed providers use', () => {
  it('allows by default what each built-in provider type calls by default, and nothing on this machine', () => {
    // Fields the types require, with values as their docs show them.
    const required: Record<string, Record<string, unknown>> = {
      azure: { endpoint: 'https://my-resource.openai.azure.com' },
      bedrock: { region: 'eu-west-3', credentials: [{ accessKeyId: 'id', secretAccessKey: 'secret' }] },
      vertex: { serviceAccount: '{}' },
    };
    const local = ['ollama', 'vllm'];
    for (const type of Object.keys(PROVIDER_TYPES).filter((t) => t !== 'mock')) {
      const problems = policy().problems('p', entry({ type, ...required[type] }), []);
      if (local.includes(type)) expect(problems, type).toHaveLength(1);
      else expect(problems, type).toEqual([]);
    }
    expect(policy().problems('p', entry({ type: 'vertex', location: 'global', serviceAccount: '{}' }), [])).toEqual([]);
  });

  it('reads * in a host pattern as one DNS label or part of one, never as an IP address', () => {
    const allowed = policy({ hosts: ['*.example.com', '*-llm.internal', 'LLM.Example.org', '10.1.2.3', '[::1]'] });
    for (const host of ['a.example.com', 'eu-llm.internal', 'llm.example.org', '10.1.2.3', '[::1]']) {
      expect(allowed.problems('p', openai(`https://${host}/v1`), []), host).toEqual([]);
    }
    for (const host of ['example.com', 'a.b.example.com', 'a.example.com.evil.net', 'llm.internal', '10.1.2.4', '127.0.0.1']) {
      expect(allowed.problems('p', openai(`https://${host}/v1`), []), host).toHaveLength(1);
    }
    expect(policy({ hosts: ['*.*.*.*'] }).problems('p', openai('http://127.0.0.1/v1'), [])).toHaveLength(1);
    expect(adminProvidersConfig.safeParse({ hosts: ['llm.internal:8443'] }).success).toBe(false);
    expect(adminProvidersConfig.safeParse({ hosts: ['https://llm.internal'] }).success).toBe(false);
  });

  it("allows a reference only when it matches a pattern paired with the provider's host", () => {
    const allowed = policy({
      hosts: ['api.openai.com', 'api.anthropic.com'],
      secretReferences: [{ reference: 'vault:secret/llm-providers/openai*', hosts: ['api.openai.com'] }],
    });
    expect(allowed.problems('p', openai('https://api.openai.com/v1'), key('vault:secret/llm-providers/openai#api_key'))).toEqual([]);
    expect(allowed.problems('p', entry({ type: 'anthropic' }), key('vault:secret/llm-providers/openai#api_key'))).toEqual([
      'p.apiKey: the operator does not allow this secret reference to be sent to api.anthropic.com (routing.adminProviders.secretReferences)',
    ]);
    for (const outside of [
      'vault:secret/llm-providers/openai/../../gateway#token',
      'vault:secret/llm-providers/openai%2f..%2f..#x',
      'vault:secret/llm-providers/openai-x/../a#k',
      'env:OPENAI_API_KEY',
    ]) {
      expect(allowed.problems('p', openai('https://api.openai.com/v1'), key(outside)), outside).toHaveLength(1);
    }
  });

  it('refuses a service account file, which would be read as a credential without a reference', () => {
    const vertex = entry({ type: 'vertex', serviceAccountFile: '/etc/gateway/gcp.json' });
    expect(policy().problems('p', vertex, [])).toEqual([
      'p.serviceAccountFile: not available through the admin API; give serviceAccount as a secret reference',
    ]);
  });

  it('knows the addresses that are not on the public internet', () => {
    for (const address of [
      '169.254.169.254',
      '127.0.0.1',
      '10.0.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:a9fe:a9fe',
      'fd00:ec2::254',
      'fe80::1',
    ]) {
      expect(isInternalAddress(address), address).toBe(true);
    }
    for (const address of ['8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isInternalAddress(address), address).toBe(false);
    }
  });

  it('refuses, when connecting, a name that resolves to an internal address unless the name is listed as it is', async () => {
    const viaPattern = promisify(policy({ hosts: ['*'] }).lookup);
    await expect(viaPattern('localhost', { all: true })).rejects.toThrow(/localhost resolves to .*, an internal address/);
    await expect(viaPattern('localhost', {})).rejects.toThrow(/an internal address/);
    const named = promisify(policy({ hosts: ['localhost'] }).lookup);
    expect(await named('localhost', { all: true })).toEqual(expect.arrayContaining([expect.objectContaining({ address: expect.any(String) })]));
  });
});
