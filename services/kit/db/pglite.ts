import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import type { Database, Queryable } from './types.js';

/**
 * PostgreSQL's shared buffers for the embedded database, a laptop's or a small
 * site's: its 128 MB default sits in the WebAssembly heap from the start, which
 * never shrinks; the kernel still caches the files.
 */
const SHARED_BUFFERS = '16MB';

/** Sets the buffers in postgresql.auto.conf, leaving initdb's postgresql.conf alone; they apply from the next start. */
const SET_BUFFERS = `ALTER SYSTEM SET shared_buffers = '${SHARED_BUFFERS}'`;

/**
 * Makes a new database (initdb) and sets its buffers, in a child process:
 * initdb's own WebAssembly instance takes some 600 MB that a process which ran
 * it keeps for good. The buffers apply from the next start, the gateway's.
 */
const CREATE = `
const [url, dir, statement] = process.argv.slice(1);
const { PGlite } = await import(url);
const db = await PGlite.create(dir);
await db.exec(statement);
await db.close();
`;

/** Embedded PostgreSQL (PGlite) in a folder; one process at a time may open it. */
export class PGliteDatabase implements Database {
  readonly kind = 'pglite';

  private constructor(private readonly db: PGliteType) {}

  static async open(dir: string): Promise<PGliteDatabase> {
    mkdirSync(dir, { recursive: true });
    if (!existsSync(join(dir, 'PG_VERSION'))) {
      await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CREATE, import.meta.resolve('@electric-sql/pglite'), dir, SET_BUFFERS]);
    }
    // Loaded only when used, so split-mode processes never pay for the WebAssembly module.
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(dir);
    // A database made by an older version: smaller buffers from its next start.
    const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
    if (rows[0]?.shared_buffers !== SHARED_BUFFERS) await db.exec(SET_BUFFERS);
    return new PGliteDatabase(db);
  }

  async query<Row extends object>(sql: string, params?: unknown[]): Promise<{ rows: Row[]; rowCount: number }> {
    const result = await this.db.query<Row>(sql, params);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>, opening?: string): Promise<T> {
    return this.db.transaction(async (tx) => {
      if (opening) await tx.exec(opening);
      return fn({
        query: async <Row extends object>(sql: string, params?: unknown[]) => {
          const result = await tx.query<Row>(sql, params);
          return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
        },
        exec: async (sql: string) => void (await tx.exec(sql)),
      });
    });
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
