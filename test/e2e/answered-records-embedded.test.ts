import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadUntilStopped } from '../harness/answer-load.js';
import { ADMIN_TOKEN, admin, spawnService, type ServiceProcess } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/infra.js';

// No answer without a record, in embedded mode: the one process that answers
// also writes the records (in-process bus, embedded PostgreSQL). It is killed
// with SIGKILL in the middle of load, and every request whose client got a
// complete answer has its audit row and its usage row once it is started
// again. The consumers hold events a whole second for company
// (nats.batchLingerMs), so a record the answer did not wait for would die with
// the process.

/** The NDJSON lines of an admin export, parsed. */
async function exported(adminUrl: string, path: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return (await response.text())
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('no answer without a record: the embedded gateway killed mid-load', () => {
  let gateway: ServiceProcess | undefined;
  afterAll(async () => {
    await gateway?.kill();
  });

  it('keeps every answered request on record, written by the same process before the answer ended', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-embedded-records-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        `dataDir: ${join(dir, 'data')}`,
        'nats:',
        '  batchLingerMs: 1000',
        'routing:',
        '  providers:',
        '    mock:',
        '      type: mock',
        '      latencyMs: 5',
        '',
      ].join('\n'),
    );
    const ports = { ingress: await freePort(), admin: await freePort() };
    const env = {
      GATEWAY_INGRESS__PORT: String(ports.ingress),
      GATEWAY_GOVERNANCE__ADMIN_PORT: String(ports.admin),
      GATEWAY_GOVERNANCE__ADMIN_TOKEN: ADMIN_TOKEN,
    };
    const adminUrl = `http://127.0.0.1:${ports.admin}`;
    gateway = await spawnService(file, 'all', env);
    const { key } = await admin<{ key: string }>(adminUrl, 'POST', '/admin/keys', { name: 'answered' });

    const traffic = loadUntilStopped(`http://127.0.0.1:${ports.ingress}/v1`, key, 20);
    await eventually('load under way', async () => (traffic.answered.length >= 200 ? true : undefined));
    await gateway.kill('SIGKILL');
    const answeredBeforeKill = traffic.answered.length;
    gateway = await gateway.restart();
    await eventually('answers again', async () => (traffic.answered.length >= answeredBeforeKill + 50 ? true : undefined), 60_000);
    await traffic.stop();

    const answered = new Set(traffic.answered);
    const completed = (await exported(adminUrl, '/admin/audit/export?type=request.completed')).filter((row) => answered.has(row.request_id as string));
    const usage = (await exported(adminUrl, '/admin/usage/export')).filter((row) => answered.has(row.request_id as string));
    expect(new Set(completed.map((row) => row.request_id)).size).toBe(answered.size);
    expect(completed).toHaveLength(answered.size);
    for (const row of completed) expect((row.payload as { request?: { recordGuarantee?: string } }).request?.recordGuarantee).toBe('durable');
    expect(new Set(usage.map((row) => row.request_id)).size).toBe(answered.size);
  });
});
