import OpenAI, { toFile } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import { createLogger } from '../../services/kit/log.js';
import { FileStore } from '../../services/routing/files.js';
import { startInProcess } from '../harness/gateway.js';
import { createDatabase, requireInfra } from '../harness/infra.js';

const HOUR = 3600;
const line = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'mock/echo', messages: [] } });
const batchFile = () => toFile(Buffer.from(line), 'batch.jsonl');

// OpenAI's expires_after on POST /v1/files, with the official client, in real PostgreSQL (docs/routing.md#batches):
// the file object says when it expires, past then it is gone to every action, and the purge deletes it.
describe('files that expire', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let database: { url: string; drop(): Promise<void> };
  let db: pg.Client;
  let client: OpenAI;

  beforeAll(async () => {
    database = await createDatabase(requireInfra().databaseUrl);
    gateway = await startInProcess({ database: { url: database.url }, routing: { providers: { mock: { type: 'mock', models: ['echo'] } } } });
    client = gateway.client((await gateway.createKey({ name: 'files', team: 'expiry' })).key);
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
  });
  afterAll(async () => {
    await gateway?.stop();
    await db?.end();
    await database?.drop();
  });

  /** Moves a file's expiry into the past, as the clock would. */
  const expire = (id: string) => db.query("UPDATE routing_files SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);

  it('answers expires_at, created_at plus the seconds asked, and keeps a file without expires_after until deleted', async () => {
    const file = await client.files.create({ file: await batchFile(), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 2 * HOUR } });
    expect(file.expires_at).toBe(file.created_at + 2 * HOUR);
    expect((await client.files.retrieve(file.id)).expires_at).toBe(file.expires_at);
    const kept = await client.files.create({ file: await batchFile(), purpose: 'batch' });
    expect(kept.expires_at).toBeNull();
  });

  it('hides an expired file from retrieve, content, list, delete and batches (404), and the purge deletes it', async () => {
    const file = await client.files.create({ file: await batchFile(), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: HOUR } });
    const kept = await client.files.create({ file: await batchFile(), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 30 * 24 * HOUR } });
    await expire(file.id);
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.content(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.delete(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const listed = [];
    for await (const listedFile of client.files.list()) listedFile.id && listed.push(listedFile.id);
    expect(listed).toContain(kept.id);
    expect(listed).not.toContain(file.id);
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e: unknown) => e);
    expect(batch).toBeInstanceOf(OpenAI.APIError);
    expect((batch as InstanceType<typeof OpenAI.APIError>).status).toBe(404);

    const log = createLogger({ level: 'silent' });
    const routingDb = await connectPostgres(database.url, 1, log);
    try {
      expect(await new FileStore(routingDb).purge()).toBe(1);
    } finally {
      await routingDb.close();
    }
    const { rows } = await db.query('SELECT id FROM routing_files WHERE id = ANY($1)', [[file.id, kept.id]]);
    expect(rows.map((row) => row.id)).toEqual([kept.id]);
  });

  it('refuses an expires_after out of OpenAI’s range or with another anchor, naming the parameter', async () => {
    const refusal = async (expires_after: { anchor: 'created_at'; seconds: number }) => {
      const error = await client.files.create({ file: await batchFile(), purpose: 'batch', expires_after }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      return error as InstanceType<typeof OpenAI.BadRequestError>;
    };
    expect(await refusal({ anchor: 'created_at', seconds: HOUR - 1 })).toMatchObject({
      param: 'expires_after.seconds',
      message: "400 Invalid 'expires_after.seconds': must be at least 3600.",
    });
    expect(await refusal({ anchor: 'created_at', seconds: 2_592_001 })).toMatchObject({ param: 'expires_after.seconds' });
    expect(await refusal({ anchor: 'created_at', seconds: 1.5 * HOUR + 0.5 })).toMatchObject({ param: 'expires_after.seconds' });
    expect(await refusal({ anchor: 'last_active_at' as 'created_at', seconds: HOUR })).toMatchObject({ param: 'expires_after.anchor' });
  });
});
