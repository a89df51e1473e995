/**
 * What services need of a SQL database. PostgreSQL in production; PGlite
 * (PostgreSQL compiled to WebAssembly, same SQL) in embedded mode.
 */
export interface Queryable {
  query<Row extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: Row[]; rowCount: number }>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs fn in one transaction: committed if it resolves, rolled back if it
   * throws. `opening`, a statement without parameters (e.g. taking a lock),
   * runs first, sent with BEGIN in one round trip.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, opening?: string): Promise<T>;
  close(): Promise<void>;
}

export interface Migration {
  version: number;
  description: string;
  sql: string;
}
