import type { FilesRequest, StoredReply } from '../gen/gateway/v1/routing.js';
import type { Queryable } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';
import { prefixedId } from '../kit/ids.js';
import { invalid } from './formats/chat.js';
import { tenantOf } from './tenant.js';

/**
 * The Batch API's files (docs/routing.md#batches): uploaded batch input, and
 * the output and error files batches write, in routing's table
 * `routing_files`, each within its tenant: any other key is told it does not exist.
 */

interface FileRow {
  id: string;
  purpose: string;
  filename: string;
  bytes: number;
  created_at: Date;
  expires_at: Date | null;
}

/** The purposes a client may upload; the others are the gateway's own (a batch's output and errors). */
const UPLOADED_PURPOSES = ['batch'];

const COLUMNS = 'id, purpose, filename, octet_length(content) AS bytes, created_at, expires_at';

/** A file past its expires_at is gone to every action, before the purge deletes it. */
const LIVE = '(expires_at IS NULL OR expires_at > now())';

export const json = (value: unknown): StoredReply => ({ body: Buffer.from(JSON.stringify(value)), contentType: '' });

export const seconds = (at: Date | null | undefined): number | null => (at ? Math.floor(new Date(at).getTime() / 1000) : null);

/** The caller's tenant; a caller without one (no key) has nothing stored. */
export function tenantFor(request: { context?: FilesRequest['context'] }): string {
  const tenant = tenantOf(request.context);
  if (!tenant) throw new GatewayError('missing_api_key', 'No key presented.');
  return tenant;
}

/** OpenAI's File object. */
export function fileObject(row: FileRow) {
  return {
    id: row.id,
    object: 'file',
    bytes: Number(row.bytes),
    created_at: seconds(row.created_at),
    filename: row.filename,
    purpose: row.purpose,
    status: 'processed',
    expires_at: seconds(row.expires_at),
    status_details: null,
  };
}

export const fileNotFound = (id: string, param?: string) => new GatewayError('not_found', `No such File object: ${id}`, param ? { param } : {});

/** A page of a tenant's rows, newest first unless `asc`, after a row id, in OpenAI's list shape. */
export function listPage<Row extends { id: string }>(rows: Row[], limit: number, render: (row: Row) => unknown) {
  const data = rows.slice(0, limit).map(render);
  return { object: 'list', data, first_id: rows[0]?.id ?? null, last_id: rows[Math.min(limit, rows.length) - 1]?.id ?? null, has_more: rows.length > limit };
}

/** `limit` of a list, within 1..max (0: the default). */
export function limitOf(limit: number, fallback: number, max: number): number {
  if (limit > max) throw invalid(`Invalid 'limit': expected at most ${max}.`, 'limit');
  return limit || fallback;
}

export class FileStore {
  constructor(private readonly db: Queryable) {}

  async handle(request: FilesRequest): Promise<StoredReply> {
    const tenant = tenantFor(request);
    switch (request.action) {
      case 'create':
        return json(await this.create(tenant, request));
      case 'list':
        return json(await this.list(tenant, request));
      case 'retrieve':
        return json(fileObject(await this.find(tenant, request.id)));
      case 'content':
        return { body: await this.content(tenant, request.id), contentType: 'application/octet-stream' };
      case 'delete': {
        const { rowCount } = await this.db.query(`DELETE FROM routing_files WHERE id = $1 AND tenant = $2 AND ${LIVE}`, [request.id, tenant]);
        if (!rowCount) throw fileNotFound(request.id);
        return json({ id: request.id, object: 'file', deleted: true });
      }
      default:
        throw invalid(`Unknown action ${request.action}.`);
    }
  }

  private async create(tenant: string, request: FilesRequest) {
    if (!UPLOADED_PURPOSES.includes(request.purpose))
      throw invalid(`Invalid 'purpose': this gateway takes files for ${UPLOADED_PURPOSES.join(', ')} only.`, 'purpose');
    if (!request.upload?.data.length) throw invalid("Missing required parameter: 'file'.", 'file');
    const { filename, data } = request.upload;
    return fileObject(await this.insert(this.db, tenant, request.purpose, filename || 'upload.jsonl', data, request.expiresAfterSeconds));
  }

  /** Stores a file (an upload, or a batch's output), kept `expiresAfterSeconds` from now (0: until deleted), and returns its row. */
  async insert(db: Queryable, tenant: string, purpose: string, filename: string, content: Buffer, expiresAfterSeconds = 0): Promise<FileRow> {
    const { rows } = await db.query<FileRow>(
      `INSERT INTO routing_files (id, tenant, purpose, filename, content, expires_at)
       VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::int > 0 THEN now() + make_interval(secs => $6::int) END) RETURNING ${COLUMNS}`,
      [prefixedId('file'), tenant, purpose, filename, content, expiresAfterSeconds],
    );
    return rows[0]!;
  }

  /** Deletes the expired files; run with the stored responses' purge, at start and hourly (deleting twice is harmless). */
  async purge(): Promise<number | null> {
    return (await this.db.query('DELETE FROM routing_files WHERE expires_at <= now()')).rowCount;
  }

  private async find(tenant: string, id: string): Promise<FileRow> {
    const { rows } = await this.db.query<FileRow>(`SELECT ${COLUMNS} FROM routing_files WHERE id = $1 AND tenant = $2 AND ${LIVE}`, [id, tenant]);
    if (!rows[0]) throw fileNotFound(id);
    return rows[0];
  }

  /** A file's bytes, or undefined when the tenant has no such file. */
  async read(tenant: string, id: string): Promise<Buffer | undefined> {
    const { rows } = await this.db.query<{ content: Uint8Array }>(`SELECT content FROM routing_files WHERE id = $1 AND tenant = $2 AND ${LIVE}`, [id, tenant]);
    return rows[0] ? Buffer.from(rows[0].content) : undefined;
  }

  private async content(tenant: string, id: string): Promise<Buffer> {
    const content = await this.read(tenant, id);
    if (!content) throw fileNotFound(id);
    return content;
  }

  private async list(tenant: string, request: FilesRequest) {
    const limit = limitOf(request.limit, 10_000, 10_000);
    if (request.order && request.order !== 'asc' && request.order !== 'desc') throw invalid("Invalid 'order': expected asc or desc.", 'order');
    const asc = request.order === 'asc';
    const params: unknown[] = [tenant, limit + 1];
    let where = `tenant = $1 AND ${LIVE}`;
    if (request.purpose) where += ` AND purpose = $${params.push(request.purpose)}`;
    if (request.after) {
      // The cursor is a file of this tenant: its creation (and id, for files of the same instant) orders the page.
      where += ` AND (created_at, id) ${asc ? '>' : '<'} (SELECT created_at, id FROM routing_files WHERE id = $${params.push(request.after)} AND tenant = $1)`;
    }
    const { rows } = await this.db.query<FileRow>(
      `SELECT ${COLUMNS} FROM routing_files WHERE ${where} ORDER BY created_at ${asc ? 'ASC' : 'DESC'}, id ${asc ? 'ASC' : 'DESC'} LIMIT $2`,
      params,
    );
    return listPage(rows, limit, fileObject);
  }
}
