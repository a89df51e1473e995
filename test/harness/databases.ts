import { cpSync, existsSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGliteDatabase } from '../../services/kit/db/pglite.js';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import type { Database } from '../../services/kit/db/types.js';
import { createLogger } from '../../services/kit/log.js';
import { inject } from 'vitest';
import { createDatabase, requireInfra } from './infra.js';

/**
 * Puts a new, empty PGlite cluster at `dir`: a copy of one made once for the
 * whole run (making a cluster takes seconds, copying one milliseconds).
 */
export async function seedPglite(dir: string): Promise<void> {
  const template = inject('pgliteTemplate');
  if (!existsSync(join(template, 'PG_VERSION'))) {
    const made = join(mkdtempSync(join(tmpdir(), 'gw-pglite-')), 'pg');
    await (await PGliteDatabase.open(made)).close();
    try {
      renameSync(made, template);
    } catch {
      // Another test process made it first: theirs is as good.
    }
  }
  cpSync(template, dir, { recursive: true });
}

/** Both database kinds the gateway runs on, so SQL is tested on each. */
export const DATABASE_KINDS = {
  postgres: async (): Promise<{ db: Database; cleanup(): Promise<void> }> => {
    const created = await createDatabase(requireInfra().databaseUrl);
    const db = await connectPostgres(created.url, 4, createLogger({ level: 'silent' }));
    return {
      db,
      cleanup: async () => {
        await db.close();
        await created.drop();
      },
    };
  },
  pglite: async (): Promise<{ db: Database; cleanup(): Promise<void> }> => {
    const dir = join(mkdtempSync(join(tmpdir(), 'gw-pglite-')), 'pg');
    await seedPglite(dir);
    const db = await PGliteDatabase.open(dir);
    return { db, cleanup: () => db.close() };
  },
};
