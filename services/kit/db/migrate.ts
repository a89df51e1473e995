import type { Logger } from '../log.js';
import type { Database, Migration } from './types.js';

/**
 * Held by every change to the schema, its roles and their grants, in every process: two such changes at once may touch
 * the same catalog row (a schema's grants) and one would fail with "tuple concurrently updated". Any constant works;
 * it only has to be the same everywhere.
 */
export const SCHEMA_LOCK = 7_423_911;

/**
 * Applies a component's migrations that are not yet applied, in version order,
 * in one transaction under an advisory lock, so replicas starting together
 * neither race nor half-apply.
 */
export async function migrate(db: Database, component: string, migrations: Migration[], log: Logger): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS gateway_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      description TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version))`);
    // The owner's settings for its definer functions (the retention floor, plan.ts): no runtime role is granted it.
    await tx.query('CREATE TABLE IF NOT EXISTS gateway_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM gateway_migrations WHERE component = $1', [component]);
    const applied = new Set(rows.map((r) => r.version));
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      log.info({ component, version: migration.version, description: migration.description }, 'applying migration');
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO gateway_migrations (component, version, description) VALUES ($1, $2, $3)', [
        component,
        migration.version,
        migration.description,
      ]);
    }
  });
}
