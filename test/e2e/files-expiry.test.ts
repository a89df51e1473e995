import OpenAI, { toFile } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import { createLogger } from '../../services/kit/log.js';
import { FileStore } from '../../services/routing/files.js';
import { startInProcess } from '../harness/gateway.js';
import { createDatabase, eventually, requireInfra } from '../harness/infra.js';

const HOUR = 3600;
const line = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'mock/echo', messages: [] } });
const batchFile = () => toFile(Buffer.from(line), 'batch.jsonl');
/** A batch input whose first line answers and whose second fails (no such provider), so it has an output and an error file. */
const answeredAndFailed = () =>
  toFile(
    Buffer.from(
      ['mock/echo', 'nowhere/echo']
        .map((model) =>
          JSON.stringify({
            custom_id: model,
            method: 'POST',
            url: '/v1/chat/completions',
            body: { model, messages: [{ role: 'user', content: 'hi' }] },
          }),
        )
        .join('\n'),
    ),
    'batch.jsonl',
  );

// OpenAI's expires_after on POST /v1/files and output_expires_after on POST /v1/batches, with the official client, in
// real PostgreSQL (docs/routing.md#file-expiry): the file object says when it expires, past then it is gone to every
// action, and the purge deletes it.
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

  it('gives a batch’s output and error files the expires_at output_expires_after asks, from when each file is written', async () => {
    const input = await client.files.create({ file: await answeredAndFailed(), purpose: 'batch' });
    const run = async (output_expires_after?: { anchor: 'created_at'; seconds: number }) => {
      const { id } = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', output_expires_after });
      const done = await eventually(`batch ${id} completed`, async () => {
        const batch = await client.batches.retrieve(id);
        return batch.status === 'completed' ? batch : undefined;
      });
      expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
      return Promise.all([client.files.retrieve(done.output_file_id!), client.files.retrieve(done.error_file_id!)]);
    };
    for (const file of await run({ anchor: 'created_at', seconds: 3 * HOUR })) {
      expect(file.purpose).toMatch(/^batch_(output|error)$/);
      expect(file.expires_at).toBe(file.created_at + 3 * HOUR);
    }
    for (const file of await run()) expect(file.expires_at).toBeNull();
  });

  it('refuses an output_expires_after out of OpenAI’s range or with another anchor, naming the parameter, and starts no batch', async () => {
    const input = await client.files.create({ file: await batchFile(), purpose: 'batch' });
    const before = (await db.query('SELECT count(*)::int AS n FROM routing_batches')).rows[0].n as number;
    const refusal = async (output_expires_after: unknown) => {
      const error = await client.batches
        .create({
          input_file_id: input.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          output_expires_after: output_expires_after as { anchor: 'created_at'; seconds: number },
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      return error as InstanceType<typeof OpenAI.BadRequestError>;
    };
    expect(await refusal({ anchor: 'created_at', seconds: HOUR - 1 })).toMatchObject({
      param: 'output_expires_after.seconds',
      message: "400 Invalid 'output_expires_after.seconds': must be at least 3600.",
      type: 'invalid_request_error',
    });
    expect(await refusal({ anchor: 'created_at', seconds: 2_592_001 })).toMatchObject({ param: 'output_expires_after.seconds' });
    expect(await refusal({ anchor: 'created_at', seconds: 'soon' })).toMatchObject({ param: 'output_expires_after.seconds' });
    expect(await refusal({ anchor: 'last_active_at', seconds: HOUR })).toMatchObject({ param: 'output_expires_after.anchor' });
    expect(await refusal({ seconds: HOUR })).toMatchObject({ param: 'output_expires_after.anchor' });
    expect((await db.query('SELECT count(*)::int AS n FROM routing_batches')).rows[0].n).toBe(before);
  });
});
