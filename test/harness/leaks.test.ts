import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject, describe, expect, it } from 'vitest';
import { listenLocally } from '../fakes/local-server.js';
import { createDatabase, eventually, requireInfra } from './infra.js';
import { findLeaks, keptFile, recordSecret } from './leaks.js';
import { watchResponsesFrom } from './responses.js';

const marker = (what: string) => `${what}-${randomBytes(8).toString('hex')}`;
const kept = (kind: string) => (existsSync(keptFile(kind)) ? readFileSync(keptFile(kind), 'utf8') : '');
const recorded = () => readFileSync(join(inject('outputDir'), `secrets-${process.pid}.txt`), 'utf8').split('\n');

// The leak scan's own parts, each shown to see what it must (global setup runs the scan over the suite's outputs).
describe('leak scan', () => {
  it('records a secret however short, and finds every one in every kind of output, naming the file and line', () => {
    // Shorter than the 12 characters the scan once required; random enough that no output of the suite holds it by chance.
    const short = randomBytes(8).toString('base64url').slice(0, 10);
    recordSecret(short);
    expect(recorded()).toContain(short);

    const dir = mkdtempSync(join(tmpdir(), 'gw-leaks-'));
    writeFileSync(join(dir, 'secrets-1.txt'), 'k3y\nsk-gw-long-and-random-0123456789\n');
    writeFileSync(join(dir, '1-1-in-process.log'), '{"msg":"fine"}\n{"msg":"key is k3y"}\n');
    writeFileSync(join(dir, '1-responses.log'), '--- POST /admin/keys → 201\n{"key":"<issued key>"}\n');
    writeFileSync(join(dir, '2-databases.log'), 'gw_test.audit_events: {"token":"sk-gw-long-and-random-0123456789"}\n');
    expect(findLeaks(dir).sort()).toEqual(['k3y… in 1-1-in-process.log:2', 'sk-gw-… in 2-databases.log:1']);
  });

  it('keeps the bodies a test receives from a watched origin as it reads them, records an issued key and blanks it', async () => {
    const issued = `sk-gw-${randomBytes(32).toString('base64url')}`;
    const streamed = marker('streamed');
    let streamClosed = false;
    const server = createServer((req, res) => {
      if (req.url === '/admin/keys') return void res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'vk_1', key: issued }));
      // A stream that never ends: only the client's cancel closes it.
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`data: ${streamed}\n\n`);
      req.on('close', () => (streamClosed = true));
    });
    const local = await listenLocally(server);
    try {
      watchResponsesFrom(local.url);
      const created = (await (await fetch(`${local.url}/admin/keys`, { method: 'POST' })).json()) as { key: string };
      expect(created.key).toBe(issued);
      expect(recorded()).toContain(issued);
      expect(kept('responses')).toContain('--- POST /admin/keys → 201\n{"id":"vk_1","key":"<issued key>"}');
      expect(kept('responses')).not.toContain(issued);

      const stream = await fetch(`${local.url}/events`);
      const reader = stream.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toContain(streamed);
      await reader.cancel();
      await eventually('the server to see the stream cancelled', async () => streamClosed || undefined);
      expect(kept('responses')).toContain(`--- GET /events → 200\ndata: ${streamed}`);
    } finally {
      await local.close();
    }
  });

  it('keeps the rows of a test database when it is dropped, text inside bytea included', async () => {
    const [text, binary] = [marker('in-text'), marker('in-bytea')];
    const database = await createDatabase(requireInfra().databaseUrl);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('CREATE TABLE audit_like (payload TEXT, event BYTEA)');
    await client.query('INSERT INTO audit_like VALUES ($1, $2)', [text, Buffer.concat([Buffer.from([0x0a, 0x12]), Buffer.from(binary)])]);
    await client.end();
    await database.drop();
    expect(kept('databases')).toContain(`.audit_like: ${text} \n\u0012${binary}`);
  });
});
