import pg from 'pg';
import type { Logger } from '../log.js';
import type { Database, Queryable } from './types.js';

// BIGINT (int8) and NUMERIC come back as strings by default; counts and token
// numbers fit in a JS number, money stays a string to keep its exact digits.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;

  constructor(url: string, poolSize: number, log: Logger) {
    this.pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
    // An idle client losing its connection (database restart) must not crash the process.
    this.pool.on('error', (err) => log.warn({ err }, 'PostgreSQL connection lost'));
  }

  async query<Row extends object>(sql: string, params?: unknown[]): Promise<{ rows: Row[]; rowCount: number }> {
    const result = await this.pool.query(sql, params);
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>, opening?: string): Promise<T> {
    const client = await this.pool.connect();
    let failure: Error | undefined;
    // A checked-out client that loses its connection emits 'error'; unheard, that would crash the process.
    const onError = (err: Error) => (failure = err);
    client.on('error', onError);
    try {
      // Without parameters, both statements go as one simple query: one round trip.
      await client.query(opening ? `BEGIN; ${opening}` : 'BEGIN');
      const tx: Queryable = {
        query: async <Row extends object>(sql: string, params?: unknown[]) => {
          const result = await client.query(sql, params);
          return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
        },
        exec: async (sql: string) => void (await client.query(sql)),
      };
      const value = await fn(tx);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      failure = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.off('error', onError);
      // A client whose transaction failed may have lost its connection: it is discarded, not reused.
      client.release(failure);
    }
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Checks the server answers, so a wrong URL fails start-up with a clear message. */
export async function connectPostgres(url: string, poolSize: number, log: Logger): Promise<PostgresDatabase> {
  const db = new PostgresDatabase(url, poolSize, log);
  try {
    await db.query('SELECT 1');
  } catch (err) {
    await db.close();
    const where = url.replace(/\/\/[^@/]*@/, '//***@');
    throw new Error(`cannot connect to PostgreSQL at ${where} (database.url): ${(err as Error).message}`, { cause: err });
  }
  return db;
}
