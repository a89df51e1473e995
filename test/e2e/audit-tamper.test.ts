import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash, chainKey, type ChainedRow, type ChainKey } from '../../services/audit/chain.js';
import { CHECKPOINT_FILE } from '../../services/audit/checkpoints.js';
import { generatedChainKeys } from '../../services/audit/keys.js';
import { scramVerifier } from '../../services/kit/db/plan.js';
import { PGliteDatabase } from '../../services/kit/db/pglite.js';
import type { Queryable } from '../../services/kit/db/types.js';
import { admin, runCli, startInProcess } from '../harness/gateway.js';
import { createDatabase, eventually, isolatedBus, requireInfra } from '../harness/infra.js';

// The audit log against those who can reach its database: the runtime roles may
// not change it, and what the owner (or anyone) does around the gateway is named
// by `gateway audit verify`, run as an operator runs it.

const ROUTING = { providers: { mock: { type: 'mock' } } };

const verifyCli = (env: Record<string, string>) => runCli(['audit', 'verify'], env);

/** Sends requests through the gateway and waits for their audit rows (read through the admin API: the embedded database is the gateway's while it runs). */
async function traffic(gateway: Awaited<ReturnType<typeof startInProcess>>, n: number): Promise<void> {
  const client = gateway.client((await gateway.createKey({ name: 'tamper' })).key);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { response } = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: `row ${i}` }] }).withResponse();
    ids.push(response.headers.get('x-request-id')!);
  }
  await eventually('the audit rows', async () => {
    const { data } = await admin<{ data: { request_id: string }[] }>(gateway.adminUrl, 'GET', '/admin/audit/events?type=request.*&limit=1000');
    return ids.every((id) => data.some((r) => r.request_id === id)) || undefined;
  });
}

/** A row as someone who can insert rows but has no chain key would forge it: linked to the head, hashed with their guess. */
async function forge(db: Queryable, key: ChainKey | undefined): Promise<number> {
  const { rows } = await db.query<{ hash: string }>('SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const row: ChainedRow = {
    event_id: randomUUID(),
    event_type: 'request.completed',
    occurred_at: new Date().toISOString(),
    request_id: 'req_forged',
    trace_id: '',
    service: 'ingress',
    source_address: '10.6.6.6',
    actor_key_id: 'vk_innocent',
    actor_team_id: '',
    actor_customer_id: '',
    actor_admin: '',
    schema_version: 1,
    payload: { request: { model: 'mock/echo', httpStatus: 200 } },
  };
  const { rows: inserted } = await db.query<{ seq: string }>(
    `INSERT INTO audit_events (event_id, event_type, occurred_at, request_id, trace_id, service, source_address, actor_key_id, actor_team_id, actor_customer_id, actor_admin, schema_version, payload, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq::text`,
    [...Object.values(row).slice(0, 12), JSON.stringify(row.payload), rows[0]!.hash, chainHash(rows[0]!.hash, row, key)],
  );
  return Number(inserted[0]!.seq);
}

/** The owner, going around the gateway: it may lift the trigger. */
async function asOwner(db: Queryable, sql: string): Promise<void> {
  await db.exec(`BEGIN; ALTER TABLE audit_events DISABLE TRIGGER USER; ${sql}; ALTER TABLE audit_events ENABLE TRIGGER USER; COMMIT`);
}

const plainSha256 = undefined;
const guessedKey = chainKey(Buffer.from('a guess at the chain key, 32 characters or more'));

describe('audit log on PostgreSQL, against its own roles', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  const clients: Record<'owner' | 'writer' | 'maintainer', pg.Client> = {} as never;
  const cleanup: (() => Promise<void>)[] = [];
  let env: Record<string, string>;
  let ownerDb: Queryable;
  let dbName: string;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    const infra = requireInfra();
    const database = await createDatabase(infra.databaseUrl);
    const bus = isolatedBus(infra.natsUrl);
    cleanup.push(database.drop, bus.cleanup);
    config = {
      nats: { url: infra.natsUrl, stream: bus.stream, subjectPrefix: bus.subjectPrefix, insecure: true },
      database: { url: database.url, passwords: { auditWriter: 'writer-password-for-tests', auditMaintainer: 'maintainer-password-for-tests' } },
      routing: ROUTING,
    };
    gateway = await startInProcess({ ...config, audit: { checkpoints: { intervalSeconds: 1 } } });
    dbName = new URL(database.url).pathname.slice(1);
    for (const role of ['owner', 'writer', 'maintainer'] as const) {
      const url = new URL(database.url);
      if (role !== 'owner') url.username = `${dbName}_audit_${role}`;
      clients[role] = new pg.Client({ connectionString: url.toString() });
      await clients[role].connect();
    }
    ownerDb = { query: async (sql, params) => (await clients.owner.query(sql, params)) as never, exec: async (sql) => void (await clients.owner.query(sql)) };
    await traffic(gateway, 6);
    await gateway.stop(); // its last checkpoint is of the head as it stopped
    env = { GATEWAY_DATABASE__URL: database.url, GATEWAY_DATA_DIR: gateway.dataDir };
  });

  afterAll(async () => {
    await gateway?.stop();
    for (const c of Object.values(clients)) await c.end();
    for (const step of cleanup.reverse()) await step();
  });

  it("sets the roles' passwords as SCRAM verifiers, which PostgreSQL computes the same way", async () => {
    const { rows } = await clients.owner.query<{ rolname: string; rolpassword: string }>('SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1)', [
      [`${dbName}_audit_writer`, `${dbName}_audit_maintainer`],
    ]);
    expect(rows.map((r) => r.rolpassword.split('$')[0])).toEqual(['SCRAM-SHA-256', 'SCRAM-SHA-256']);
    await clients.owner.query(`SET password_encryption = 'scram-sha-256'; CREATE ROLE scram_check_${process.pid} PASSWORD 'writer-password-for-tests'`);
    const { rows: made } = await clients.owner.query<{ rolpassword: string }>(`SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_check_${process.pid}'`);
    await clients.owner.query(`DROP ROLE scram_check_${process.pid}`);
    const salt = Buffer.from(made[0]!.rolpassword.split('$')[1]!.split(':')[1]!, 'base64');
    expect(scramVerifier('writer-password-for-tests', salt)).toBe(made[0]!.rolpassword);
  });

  it('lets the writer role append and read, and refuses it every change', async () => {
    const writer = clients.writer;
    expect((await writer.query('SELECT count(*)::int AS n FROM audit_events')).rows[0].n).toBeGreaterThan(6);
    await expect(writer.query("UPDATE audit_events SET actor_key_id = 'someone-else'")).rejects.toThrow(/permission denied for table audit_events/);
    await expect(writer.query('DELETE FROM audit_events')).rejects.toThrow(/permission denied for table audit_events/);
    await expect(writer.query('TRUNCATE audit_events')).rejects.toThrow(/permission denied for table audit_events/);
    await expect(writer.query('ALTER TABLE audit_events DISABLE TRIGGER USER')).rejects.toThrow(/must be owner of table audit_events/);
    await expect(writer.query('DROP TRIGGER audit_events_no_change ON audit_events')).rejects.toThrow(/must be owner of (table|relation) audit_events/);
    await expect(writer.query('ALTER TABLE audit_events OWNER TO CURRENT_USER')).rejects.toThrow(/must be owner of table audit_events/);
    // The old maintenance switch: any session may set it, and it no longer lifts anything.
    await expect(writer.query("BEGIN; SELECT set_config('gateway.audit_maintenance', 'on', true); UPDATE audit_events SET actor_key_id = 'x'")).rejects.toThrow(
      /permission denied/,
    );
    await writer.query('ROLLBACK');
    await expect(writer.query("INSERT INTO audit_archives (up_to_seq, last_hash, rows, file, file_sha256) VALUES (1, 'x', 1, 'f', 'x')")).rejects.toThrow(
      /permission denied for table audit_archives/,
    );
    // A row slipped into a gap of the sequence would sit among older rows: seq is not the writer's to choose.
    await expect(
      writer.query(
        "INSERT INTO audit_events (seq, event_id, event_type, occurred_at, service, schema_version, payload, prev_hash, hash) VALUES (0, gen_random_uuid(), 'x', now(), 'x', 1, '{}', 'x', 'x')",
      ),
    ).rejects.toThrow(/permission denied/);
    await expect(writer.query('SET ROLE postgres')).rejects.toThrow(/permission denied to set role/);
    // The maintainer may delete only rows an archive covers.
    await expect(clients.maintainer.query('DELETE FROM audit_events')).rejects.toThrow(/append-only: DELETE refused/);
    await expect(clients.maintainer.query("UPDATE audit_events SET actor_key_id = 'x'")).rejects.toThrow(/permission denied for table audit_events/);
    expect(await verifyCli(env)).toMatchObject({ code: 0, out: expect.stringMatching(/audit log intact: \d+ rows \(0 archives\), [1-9]\d* checkpoints/) });
  });

  it('names a row the writer role forged, with plain SHA-256 or a guessed key, and accepts it only with the real key', async () => {
    const writer: Queryable = { query: async (sql, params) => (await clients.writer.query(sql, params)) as never, exec: async () => undefined };
    for (const guess of [plainSha256, guessedKey]) {
      const seq = await forge(writer, guess);
      const verdict = await verifyCli(env);
      expect(verdict.code).toBe(1);
      expect(verdict.out).toContain(`BROKEN at row ${seq}`);
      expect(verdict.out).toContain('written without the chain key (forged)');
      await asOwner(ownerDb, `DELETE FROM audit_events WHERE seq = ${seq}`);
    }
    // The forgery is well made: with the key, the same row verifies. Only the key tells them apart.
    const seq = await forge(writer, generatedChainKeys(gateway.dataDir)!.current);
    expect(await verifyCli(env)).toMatchObject({ code: 0 });
    await asOwner(ownerDb, `DELETE FROM audit_events WHERE seq = ${seq}`);
  });

  it('catches the owner rolling the log back, by the checkpoints kept outside the database', async () => {
    const last = JSON.parse(
      readFileSync(join(gateway.dataDir, 'audit-checkpoints', CHECKPOINT_FILE), 'utf8')
        .trim()
        .split('\n')
        .at(-1)!,
    ) as { seq: number };
    await asOwner(
      ownerDb,
      `CREATE TABLE rolled_back AS SELECT * FROM audit_events WHERE seq > ${last.seq - 3}; DELETE FROM audit_events WHERE seq > ${last.seq - 3}`,
    );
    const verdict = await verifyCli(env);
    expect(verdict.code).toBe(1);
    expect(verdict.out).toContain(`BROKEN at row ${last.seq}`);
    expect(verdict.out).toContain(`the log ends at row ${last.seq - 3}`);
    expect(verdict.out).toContain('rolled back or truncated');
    await clients.owner.query('INSERT INTO audit_events SELECT * FROM rolled_back; DROP TABLE rolled_back');
    expect(await verifyCli(env)).toMatchObject({ code: 0 });
  });

  it("refuses to start when a role's password cannot be read, naming the key", async () => {
    const failed = startInProcess({
      ...config,
      database: { url: (config.database as { url: string }).url, passwords: { auditWriter: 'env:GW_TEST_NO_SUCH_AUDIT_PASSWORD' } },
    });
    await expect(failed).rejects.toThrow(/database\.passwords\.auditWriter/);
  });

  it('names an archive record the chain does not vouch for, even over a true copy of the rows it hides', async () => {
    const maintainer = clients.maintainer;
    const { rows } = await maintainer.query<Record<string, unknown> & { seq: number; hash: string }>('SELECT * FROM audit_events ORDER BY seq LIMIT 3');
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    const file = join(gateway.dataDir, 'forged-archive.ndjson');
    writeFileSync(file, text);
    await maintainer.query('INSERT INTO audit_archives (up_to_seq, last_hash, rows, file, file_sha256) VALUES ($1, $2, 3, $3, $4)', [
      rows[2]!.seq,
      rows[2]!.hash,
      file,
      createHash('sha256').update(text).digest('hex'),
    ]);
    await maintainer.query('DELETE FROM audit_events WHERE seq <= $1', [rows[2]!.seq]);
    const verdict = await verifyCli(env);
    expect(verdict.code).toBe(1);
    expect(verdict.out).toMatch(new RegExp(`BROKEN at row ${rows[2]!.seq}: archive \\d+ \\(rows up to ${rows[2]!.seq}\\) is not in the chain`));
  });
});

describe('audit log in embedded mode (PGlite: one user, so the chain key and checkpoints are the control)', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let env: Record<string, string>;
  const openDb = () => PGliteDatabase.open(join(gateway.dataDir, 'pg'));

  beforeAll(async () => {
    gateway = await startInProcess({ routing: ROUTING, audit: { checkpoints: { intervalSeconds: 1 } } });
    await traffic(gateway, 5);
    await gateway.stop();
    env = { GATEWAY_DATA_DIR: gateway.dataDir };
  });

  afterAll(() => gateway?.stop());

  /** Runs fn on the embedded database, closed again before the CLI opens it. */
  async function withDb<T>(fn: (db: PGliteDatabase) => Promise<T>): Promise<T> {
    const db = await openDb();
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }

  it('keeps its generated key in the data folder, readable by its user only', () => {
    const keys = generatedChainKeys(gateway.dataDir)!;
    expect(keys.generatedFile).toBe(join(gateway.dataDir, 'audit-chain.key'));
    expect(statSync(keys.generatedFile!).mode & 0o777).toBe(0o600);
  });

  it('names rows changed, forged or rolled back around the gateway', async () => {
    expect(await verifyCli(env)).toMatchObject({ code: 0, out: expect.stringContaining('audit log intact') });
    await withDb(async (db) => {
      await expect(db.exec("BEGIN; SELECT set_config('gateway.audit_maintenance', 'on', true); UPDATE audit_events SET actor_key_id = 'x'")).rejects.toThrow(
        /append-only: UPDATE refused/,
      );
      await db.exec('ROLLBACK');
    });
    for (const guess of [plainSha256, guessedKey]) {
      const seq = await withDb((db) => forge(db, guess));
      const verdict = await verifyCli(env);
      expect(verdict).toMatchObject({ code: 1, out: expect.stringContaining(`BROKEN at row ${seq}`) });
      await withDb((db) => asOwner(db, `DELETE FROM audit_events WHERE seq = ${seq}`));
    }
    const head = await withDb(async (db) => Number((await db.query<{ seq: number }>('SELECT max(seq) AS seq FROM audit_events')).rows[0]!.seq));
    await withDb((db) => asOwner(db, `DELETE FROM audit_events WHERE seq > ${head - 2}`));
    const verdict = await verifyCli(env);
    expect(verdict).toMatchObject({ code: 1, out: expect.stringContaining(`the log ends at row ${head - 2}, but the checkpoint`) });
  });

  it('refuses to start with a chain key too short, naming the key', async () => {
    await expect(startInProcess({ routing: ROUTING, audit: { chainKey: 'too-short-chain-key-7c1e' } })).rejects.toThrow(
      /audit\.chainKey: a chain key needs at least 32 characters/,
    );
  });
});
