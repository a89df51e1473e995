import pg from 'pg';

/** A row of one of LiteLLM's tables, as the driver returns it. */
export type Row = Record<string, unknown>;

/** LiteLLM's proxy tables this import reads; the first two every LiteLLM proxy database has. */
export const TABLES = {
  keys: 'LiteLLM_VerificationToken',
  teams: 'LiteLLM_TeamTable',
  organizations: 'LiteLLM_OrganizationTable',
  budgets: 'LiteLLM_BudgetTable',
  endUsers: 'LiteLLM_EndUserTable',
  users: 'LiteLLM_UserTable',
} as const;

export type LiteLLMTables = Record<keyof typeof TABLES, Row[]>;

/**
 * Reads LiteLLM's tables in one read-only transaction (one snapshot; nothing written), or fails saying
 * what to do: the database cannot be reached, or it holds no LiteLLM proxy tables.
 */
export async function readLiteLLM(url: string, schema: string): Promise<LiteLLMTables> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  const where = `${new URL(url).host}${new URL(url).pathname}`;
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `import litellm: cannot connect to the database at ${where} (${(err as Error).message}); give LiteLLM's DATABASE_URL with --database postgresql://user:password@host:5432/litellm`,
    );
  }
  try {
    await client.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    const present = new Set(rows.map((r) => r.name));
    if (!present.has(TABLES.keys) || !present.has(TABLES.teams))
      throw new Error(
        `import litellm: ${where} has no ${TABLES.keys} and ${TABLES.teams} in schema ${schema}, so it is not a LiteLLM proxy database; give the database LiteLLM's proxy uses (its DATABASE_URL), and --schema if its tables are not in "public"`,
      );
    const read = async (table: string) =>
      present.has(table) ? (await client.query<Row>(`SELECT * FROM ${client.escapeIdentifier(schema)}.${client.escapeIdentifier(table)}`)).rows : [];
    const tables = {} as LiteLLMTables;
    for (const [kind, table] of Object.entries(TABLES) as [keyof typeof TABLES, string][]) tables[kind] = await read(table);
    await client.query('COMMIT');
    return tables;
  } finally {
    await client.end().catch(() => undefined);
  }
}
