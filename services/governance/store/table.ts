import type { Database } from '../../kit/db/types.js';

/** How one field of an entity is stored: its column and, where the types differ, the conversions. */
export interface Column<T> {
  field: keyof T & string;
  column: string;
  toDb?: (value: never) => unknown;
  fromDb?: (value: never) => unknown;
}

export const asDate = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));
export const asNumber = (value: string | number | null): number | null => (value === null ? null : Number(value));
export const asBuffer = (value: Buffer | Uint8Array): Buffer => Buffer.from(value);

/**
 * One table of governance entities, held in memory for the request path and
 * written through to the database. Replicas keep their copies current with
 * reload(id) when an admin event names an entity.
 */
export class Table<T extends { id: string }> {
  private readonly rows = new Map<string, T>();
  private readonly columnList: string;

  constructor(
    private readonly db: Database,
    readonly name: string,
    private readonly columns: readonly Column<T>[],
    private readonly onChange: (before: T | undefined, after: T | undefined) => void = () => undefined,
  ) {
    this.columnList = columns.map((c) => c.column).join(', ');
  }

  get(id: string): T | undefined {
    return this.rows.get(id);
  }

  /**
   * The entity from memory, else from the database: an admin change made
   * through another replica a moment ago may not have reached this one yet.
   */
  async find(id: string): Promise<T | undefined> {
    return this.rows.get(id) ?? (await this.fetchBy('id', id));
  }

  all(): T[] {
    return [...this.rows.values()];
  }

  async loadAll(): Promise<void> {
    const { rows } = await this.db.query<Record<string, unknown>>(`SELECT ${this.columnList} FROM ${this.name}`);
    for (const row of rows) this.put(this.fromRow(row));
  }

  /** Reads the first entity whose column equals the value from the database, keeping it in memory. */
  async fetchBy(column: string, value: unknown): Promise<T | undefined> {
    const { rows } = await this.db.query<Record<string, unknown>>(`SELECT ${this.columnList} FROM ${this.name} WHERE ${column} = $1 LIMIT 1`, [value]);
    if (!rows[0]) return undefined;
    const entity = this.fromRow(rows[0]);
    this.put(entity);
    return entity;
  }

  /** Re-reads one entity (or forgets it, when it is gone). */
  async reload(id: string): Promise<void> {
    const { rows } = await this.db.query<Record<string, unknown>>(`SELECT ${this.columnList} FROM ${this.name} WHERE id = $1`, [id]);
    if (rows[0]) this.put(this.fromRow(rows[0]));
    else this.forget(id);
  }

  async insert(entity: T): Promise<T> {
    const values = this.columns.map((c) => this.toDb(c, entity[c.field]));
    const placeholders = values.map((_, i) => `$${i + 1}`).join(', ');
    const { rows } = await this.db.query<Record<string, unknown>>(
      `INSERT INTO ${this.name} (${this.columnList}) VALUES (${placeholders}) RETURNING ${this.columnList}`,
      values,
    );
    const stored = this.fromRow(rows[0]!);
    this.put(stored);
    return stored;
  }

  /** Inserts the entity, or replaces the one with its id; returns the entity before (if any) and after. */
  async upsert(entity: T): Promise<{ before: T | undefined; after: T }> {
    const before = this.rows.get(entity.id);
    const values = this.columns.map((c) => this.toDb(c, entity[c.field]));
    const placeholders = values.map((_, i) => `$${i + 1}`).join(', ');
    const updates = this.columns
      .filter((c) => c.field !== 'id')
      .map((c) => `${c.column} = EXCLUDED.${c.column}`)
      .join(', ');
    const { rows } = await this.db.query<Record<string, unknown>>(
      `INSERT INTO ${this.name} (${this.columnList}) VALUES (${placeholders}) ON CONFLICT (id) DO UPDATE SET ${updates} RETURNING ${this.columnList}`,
      values,
    );
    const after = this.fromRow(rows[0]!);
    this.put(after);
    return { before, after };
  }

  /** Changes the given fields; returns the entity before and after, or undefined when there is none. */
  async update(id: string, patch: Partial<T>): Promise<{ before: T; after: T } | undefined> {
    const changed = this.columns.filter((c) => c.field in patch && c.field !== 'id');
    const before = this.rows.get(id);
    if (changed.length === 0) return before ? { before, after: before } : undefined;
    const sets = changed.map((c, i) => `${c.column} = $${i + 2}`).join(', ');
    const { rows } = await this.db.query<Record<string, unknown>>(`UPDATE ${this.name} SET ${sets} WHERE id = $1 RETURNING ${this.columnList}`, [
      id,
      ...changed.map((c) => this.toDb(c, patch[c.field] as T[keyof T])),
    ]);
    if (!rows[0]) return undefined;
    const after = this.fromRow(rows[0]);
    this.put(after);
    return { before: before ?? after, after };
  }

  async delete(id: string): Promise<T | undefined> {
    const { rowCount } = await this.db.query(`DELETE FROM ${this.name} WHERE id = $1`, [id]);
    const before = this.rows.get(id);
    if (rowCount === 0) return undefined;
    this.forget(id);
    return before;
  }

  private put(entity: T): void {
    const before = this.rows.get(entity.id);
    this.rows.set(entity.id, entity);
    this.onChange(before, entity);
  }

  private forget(id: string): void {
    const before = this.rows.get(id);
    if (!before) return;
    this.rows.delete(id);
    this.onChange(before, undefined);
  }

  private toDb(column: Column<T>, value: T[keyof T]): unknown {
    return column.toDb ? column.toDb(value as never) : value;
  }

  private fromRow(row: Record<string, unknown>): T {
    const entity: Record<string, unknown> = {};
    for (const c of this.columns) entity[c.field] = c.fromDb ? c.fromDb(row[c.column] as never) : row[c.column];
    return entity as T;
  }
}
