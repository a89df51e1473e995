import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
 * Makes a new database (initdb) and sets its buffers, in a child process: a
 * process that ran initdb's WebAssembly instance keeps its memory for good.
 * The buffers apply from the next start, the gateway's.
 */
const CREATE = `
const [url, dir, statement] = process.argv.slice(1);
const { PGlite } = await import(url);
const db = await PGlite.create(dir);
await db.exec(statement);
await db.close();
`;

/** Whether a process with this id runs (EPERM: it does, as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims the folder for this process with `<dir>.lock` holding its id, or
 * throws naming the process that holds it: PGlite takes no lock of its own,
 * and a second instance on a folder in use (a `gateway audit verify` beside a
 * running gateway, a second `npm start`) may corrupt it. A lock whose process
 * is gone (it crashed) is taken over. Returns the release.
 */
function claim(dir: string): () => void {
  const file = `${dir}.lock`;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8'));
      if (holder > 0 && running(holder)) {
        throw new Error(
          `the embedded database at ${dir} is in use by process ${holder} (a running gateway or gateway command): stop it first, or use PostgreSQL (database.url) to share a database; if process ${holder} is no gateway, remove ${file}`,
        );
      }
      rmSync(file, { force: true });
    }
  }
}

/** Embedded PostgreSQL (PGlite) in a folder; one process at a time may open it. */
export class PGliteDatabase implements Database {
  readonly kind = 'pglite';

  private constructor(
    private readonly db: PGliteType,
    private readonly release: () => void,
  ) {}

  static async open(dir: string): Promise<PGliteDatabase> {
    mkdirSync(dir, { recursive: true });
    const release = claim(dir);
    try {
      if (!existsSync(join(dir, 'PG_VERSION'))) {
        await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CREATE, import.meta.resolve('@electric-sql/pglite'), dir, SET_BUFFERS]);
      }
      // Loaded only when used, so split-mode processes never pay for the WebAssembly module.
      const { PGlite } = await import('@electric-sql/pglite');
      const db = await PGlite.create(dir);
      // A database made by an older version: smaller buffers from its next start.
      const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      if (rows[0]?.shared_buffers !== SHARED_BUFFERS) await db.exec(SET_BUFFERS);
      return new PGliteDatabase(db, release);
    } catch (err) {
      release();
      throw err;
    }
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
    try {
      await this.db.close();
    } finally {
      this.release();
    }
  }
}
