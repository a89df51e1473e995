import { mkdirSync } from 'node:fs';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import type { Database, Queryable } from './types.js';

/** Embedded PostgreSQL (PGlite) in a folder; one process at a time may open it. */
export class PGliteDatabase implements Database {
  readonly kind = 'pglite';

  private constructor(private readonly db: PGliteType) {}

  static async open(dir: string): Promise<PGliteDatabase> {
    mkdirSync(dir, { recursive: true });
    // Loaded only when used, so split-mode processes never pay for the WebAssembly module.
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(dir);
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
