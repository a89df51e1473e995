import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGliteDatabase } from '../../services/kit/db/pglite.js';
import { connectPostgres } from '../../services/kit/db/postgres.js';
import type { Database } from '../../services/kit/db/types.js';
import { createLogger } from '../../services/kit/log.js';
import { createDatabase, requireInfra } from './infra.js';

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
    const db = await PGliteDatabase.open(join(mkdtempSync(join(tmpdir(), 'gw-pglite-')), 'pg'));
    return { db, cleanup: () => db.close() };
  },
};
