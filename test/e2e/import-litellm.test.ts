import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeAzure, type FakeAzure } from '../fakes/azure.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { configProblems } from '../harness/config.js';
import { runCli, startInProcess, type TestGateway } from '../harness/gateway.js';
import { testToken } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/litellm-config.yaml', import.meta.url));
/** The key the fixture writes into the file itself; the gateway must get it from OPENAI_GPT_4O_MINI_API_KEY only. */
const LITERAL_KEY = 'sk-fake-litellm-literal-key-7f3a9c';

// A team's LiteLLM config, its endpoints pointed at the fakes, converted by the CLI and served by the gateway:
// an application that only changes its base URL keeps calling the same model names.
describe('a LiteLLM config imported with `gateway import litellm`', () => {
  const keys = { azure: testToken('sk-fake-azure'), openai: testToken('sk-fake-openai'), anthropic: testToken('sk-fake-ant') };
  const env: Record<string, string> = {
    AZURE_API_KEY_EU: keys.azure,
    AZURE_API_KEY_CA: keys.azure,
    OPENAI_API_KEY: keys.openai,
    OPENAI_GPT_4O_MINI_API_KEY: LITERAL_KEY,
    ANTHROPIC_API_KEY: keys.anthropic,
    AWS_ACCESS_KEY_ID: 'AKIAFAKEIMPORT',
    AWS_SECRET_ACCESS_KEY: testToken('fake-aws-secret'),
    GROQ_API_KEY: testToken('gsk-fake'),
  };
  let fakes: { azure: FakeAzure; openai: FakeOpenAI; anthropic: FakeAnthropic };
  let cli: { code: number; out: string };
  let output: string;
  let gateway: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    for (const value of [LITERAL_KEY, ...Object.values(env)]) recordSecret(value);
    fakes = {
      azure: await startFakeAzure({ apiKey: keys.azure, deployments: ['gpt-4o-eu', 'gpt-4o-ca'] }),
      openai: await startFakeOpenAI({ apiKey: keys.openai, otherKeys: [LITERAL_KEY] }),
      anthropic: await startFakeAnthropic({ apiKey: keys.anthropic }),
    };
    const litellm = parseYaml(readFileSync(FIXTURE, 'utf8')) as { model_list: { litellm_params: Record<string, unknown> }[] };
    const apiBase = [fakes.azure.url, fakes.azure.url, `${fakes.openai.url}/v1`, `${fakes.openai.url}/v1`, fakes.anthropic.url];
    apiBase.forEach((url, i) => {
      litellm.model_list[i]!.litellm_params.api_base = url;
    });
    const dir = mkdtempSync(join(tmpdir(), 'gw-import-'));
    writeFileSync(join(dir, 'config.yaml'), stringify(litellm));
    cli = await runCli(['import', 'litellm', '--config', join(dir, 'config.yaml'), '--out', join(dir, 'gateway.yaml')], {});
    output = readFileSync(join(dir, 'gateway.yaml'), 'utf8');

    Object.assign(process.env, env);
    expect(configProblems({ file: join(dir, 'gateway.yaml'), env: process.env })).toEqual([]);
    gateway = await startInProcess(parseYaml(output) as Record<string, unknown>);
    client = gateway.client((await gateway.createKey({ name: 'imported' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all(Object.values(fakes ?? {}).map((fake) => fake.close()));
    for (const name of Object.keys(env)) delete process.env[name];
  });

  it('converts, saying what to set and what did not carry over, and copies no secret', () => {
    expect(cli.code).toBe(0);
    expect(cli.out).toContain('model_list[3].litellm_params.api_key: the file holds this secret itself, which is not copied: set OPENAI_GPT_4O_MINI_API_KEY');
    expect(cli.out).toContain('litellm_settings.callbacks: no callbacks here');
    expect(cli.out).toContain('wrote ');
    expect(output).toContain('apiKey: env:OPENAI_GPT_4O_MINI_API_KEY');
    expect(cli.out + output).not.toContain(LITERAL_KEY);
  });

  it("serves a group of two Azure deployments and one OpenAI's under LiteLLM's model_name", async () => {
    for (let i = 0; i < 6; i++) {
      const answer = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hello ${i}` }] });
      expect(answer.choices[0]!.message.content).toMatch(/^Fake (Azure )?OpenAI reply to: hello \d/);
    }
    expect(fakes.azure.requests.length + fakes.openai.requests.length).toBe(6);
  });

  it('calls with the key the operator set in place of the one written into the LiteLLM file', async () => {
    const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]!.message.content).toBe('Fake OpenAI reply to: hi');
    expect(fakes.openai.requests.at(-1)).toMatchObject({ authorization: `Bearer ${LITERAL_KEY}`, body: { model: 'gpt-4o-mini' } });
  });

  it("falls back as LiteLLM's content_policy_fallbacks did, from a deployment named by its model_info.id", async () => {
    const answer = await client.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'something forbidden' }] },
      { headers: { 'x-gateway-deployment': 'gpt-4o-eu' } },
    );
    expect(answer.choices[0]!.message.content).toMatch(/^Fake Anthropic reply to: /);
    expect(fakes.azure.requests.at(-1)).toMatchObject({ deployment: 'gpt-4o-eu' });
    expect(fakes.anthropic.requests.at(-1)).toMatchObject({ apiKey: keys.anthropic, body: { model: 'claude-sonnet-4-5' } });
  });
});
