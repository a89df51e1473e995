import type { Migration } from '../kit/db/types.js';

export const governanceMigrations: Migration[] = [
  {
    version: 1,
    description: 'virtual keys',
    sql: `
      CREATE TABLE virtual_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        -- SHA-256 of the key; the key itself is shown once at creation and never stored.
        key_hash BYTEA NOT NULL UNIQUE,
        team_id TEXT NOT NULL DEFAULT '',
        customer_id TEXT NOT NULL DEFAULT '',
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
      );
    `,
  },
];
