import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_PORTS } from '../../services/kit/ports.js';
import type { ServiceName } from '../../services/kit/service.js';
import { spawnService, type ServiceProcess } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';
import { recordSecret } from '../harness/leaks.js';
import { watchResponsesFrom } from '../harness/responses.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** The README's one-host split: the variables it exports and the services it starts, one process each. */
function readmeExample(): { env: Record<string, string>; services: ServiceName[] } {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = readme.split('<!-- one-host split:')[1]!.split('```sh\n')[1]!.split('```')[0]!;
  const env = Object.fromEntries([...block.matchAll(/\b(GATEWAY_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  const loop = /for service in ([a-z ]+); do npx gateway start --services \$service & done/.exec(block);
  if (!loop) throw new Error(`the README's one-host split no longer starts one process per service as this test expects:\n${block}`);
  return { env, services: loop[1]!.trim().split(/\s+/) as ServiceName[] };
}

// The README's example as written, on the default ports: only the stream, database and data folder are this test's own.
describe('the services apart on one host, as the README runs them', () => {
  const example = readmeExample();
  let processes: ServiceProcess[] = [];
  let drop: () => Promise<void> = async () => undefined;
  let dataDir: string;

  beforeAll(async () => {
    const infra = await isolatedInfra();
    drop = infra.drop;
    dataDir = mkdtempSync(join(tmpdir(), 'gw-one-host-'));
    const file = join(dataDir, 'isolation.yaml');
    writeFileSync(file, toYaml({ dataDir, nats: { stream: infra.nats.stream, subjectPrefix: infra.nats.subjectPrefix } }));
    const env = { ...example.env, GATEWAY_NATS__URL: infra.nats.url, GATEWAY_DATABASE__URL: infra.database.url };
    // Started together, as the README's loop does.
    const started = await Promise.allSettled(example.services.map((service) => spawnService(file, service, env, SERVICE_PORTS[service].ops)));
    processes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    watchResponsesFrom('http://127.0.0.1:8080', 'http://127.0.0.1:8081');
  });

  afterAll(async () => {
    // Front to back, as an orchestrator drains a deployment.
    for (const p of [...processes].reverse()) await p.kill('SIGTERM');
    await drop();
  });

  it('starts all six, each on ports of its own', () => {
    expect(example.services.sort()).toEqual(['audit', 'caching', 'governance', 'ingress', 'metering', 'routing']);
    expect(processes.map((p) => p.output()).join('\n')).not.toMatch(/EADDRINUSE/);
  });

  it('serves a request through all of them, and answers /admin/audit and /admin/spend about it', async () => {
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    recordSecret(token);
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:8081${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    const created = (await (await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'one-host' }) })).json()) as { key: string };
    const answer = await fetch('http://127.0.0.1:8080/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${created.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock/echo', messages: [{ role: 'user', content: 'Hello!' }] }),
    });
    expect(await answer.json()).toMatchObject({ choices: [{ message: { content: 'This is a mock response to: Hello!' } }] });
    const requestId = answer.headers.get('x-request-id')!;

    const audited = await eventually('the request in /admin/audit', async () => {
      const { data } = (await (await admin(`/admin/audit/events?request_id=${requestId}`)).json()) as { data: { event_type: string }[] };
      return data.length > 0 ? data : undefined;
    });
    expect(audited.map((e) => e.event_type)).toContain('request.completed');
    const spend = await eventually('the request in /admin/spend', async () => {
      const report = (await (await admin('/admin/spend?group_by=model')).json()) as { total: { requests: number }; data: { model: string }[] };
      return report.total.requests >= 1 ? report : undefined;
    });
    expect(spend).toMatchObject({ total: { requests: 1 }, data: [{ model: 'mock/echo' }] });
  });
});
