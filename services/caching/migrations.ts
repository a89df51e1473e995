import { tableGrants, type DatabasePlan } from '../kit/db/plan.js';
import type { Migration } from '../kit/db/types.js';

export const cachingMigrations: Migration[] = [
  {
    version: 1,
    description: 'cache entries shared by caching replicas, and the purges they follow',
    sql: `
      CREATE TABLE cache_entries (
        id TEXT PRIMARY KEY,
        -- Order of writes, for replicas to pick up each other's entries.
        seq BIGSERIAL NOT NULL,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        bucket TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        key_id TEXT NOT NULL,
        answer BYTEA NOT NULL,
        usage JSONB,
        served JSONB,
        -- float32 little-endian, unit length; NULL for exact-only entries.
        vector BYTEA,
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        UNIQUE (namespace, key)
      );
      CREATE INDEX cache_entries_seq ON cache_entries (seq);
      CREATE INDEX cache_entries_expires_at ON cache_entries (expires_at);
      CREATE TABLE cache_purges (
        seq BIGSERIAL PRIMARY KEY,
        namespace TEXT NOT NULL,
        key_id TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        purged_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
    `,
  },
];

/** Caching works as <database>_caching: the shared cache store only. */
export const cachingDatabase: DatabasePlan = {
  components: [{ name: 'caching', migrations: cachingMigrations }],
  roles: {
    caching: { grants: tableGrants('SELECT, INSERT, UPDATE, DELETE', ['cache_entries', 'cache_purges'], ['cache_entries_seq_seq', 'cache_purges_seq_seq']) },
  },
};
