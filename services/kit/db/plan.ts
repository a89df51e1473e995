import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { migrate, SCHEMA_LOCK } from './migrate.js';
import type { Database, Migration, Queryable } from './types.js';

/**
 * A service's part of the database: the migrations that make its tables, and
 * the runtime roles it works as, with the least each may do. The owner
 * (database.url) applies it; the running service holds only its roles.
 */
export interface DatabasePlan {
  /** Migration components, applied in this order. */
  components: { name: string; migrations: Migration[] }[];
  /** Runtime roles by their key in database.passwords; the role is <database>_<key in snake case>. */
  roles: Record<string, RuntimeRole>;
  /** The owner's work once migrated, before any role writes (e.g. chaining rows an older version wrote). */
  afterMigrate?(owner: Database, log: Logger): Promise<void>;
}

export interface RuntimeRole {
  /** Privileges, each as in `GRANT <privilege> TO role` (e.g. "SELECT, INSERT ON usage_records"), granted again after every migration. */
  grants: string[];
  /** Connections in the role's pool (default database.poolSize). */
  poolSize?: number;
}

/** A service's connections, one per runtime role of its plan. */
export interface PlanDatabases {
  as(role: string): Database;
}

/** Roles are the server's, not the database's: named after the database, so two gateways on one server never share one. */
export function roleName(database: string, key: string): string {
  const name = `${database}_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
  if (Buffer.byteLength(name) > 63) throw new Error(`role ${name} is longer than PostgreSQL allows (63 bytes): use a database name of at most 45 bytes`);
  return name;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * A SCRAM-SHA-256 verifier (RFC 7677, as PostgreSQL stores it): the server
 * can check the password with it, but the password itself never crosses the
 * connection nor lands in a statement log.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
  const serverKey = createHmac('sha256', salted).update('Server Key').digest('base64');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey}:${serverKey}`;
}

/** What the owner stores as it migrates, for its functions to hold the runtime roles to. */
export interface OwnerSettings {
  /** No month of a ledger younger than this many days is dropped, whatever retention a service asks for (0: no floor). */
  retentionFloorDays: number;
}

/**
 * Applies a plan as the owner: migrations, the owner's settings, then each
 * role made if missing, granted its privileges, and given its password (empty: none).
 */
export async function applyPlan(
  owner: Database,
  plan: DatabasePlan,
  passwords: Record<string, string>,
  log: Logger,
  settings: OwnerSettings = { retentionFloorDays: 0 },
): Promise<void> {
  for (const { name, migrations } of plan.components) await migrate(owner, name, migrations, log);
  await owner.query(
    `INSERT INTO gateway_settings (name, value) VALUES ('retention_floor_days', $1)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE gateway_settings.value IS DISTINCT FROM excluded.value`,
    [String(settings.retentionFloorDays)],
  );
  if (owner.kind === 'postgres') {
    const { rows } = await owner.query<{ db: string; schema: string }>('SELECT current_database() AS db, current_schema() AS schema');
    const { db, schema } = rows[0]!;
    for (const [key, role] of Object.entries(plan.roles)) {
      const name = ident(roleName(db, key));
      // Another replica may make the role at the same moment, or another service migrate: one at a time.
      await owner.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        const exists = await tx.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [roleName(db, key)]);
        if (exists.rowCount === 0) await tx.exec(`CREATE ROLE ${name} LOGIN`);
        const password = passwords[key] ?? '';
        await tx.exec(`ALTER ROLE ${name} ${password ? `PASSWORD '${scramVerifier(password)}'` : 'PASSWORD NULL'}`);
        await tx.exec(`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${name}; GRANT SELECT ON gateway_migrations TO ${name}`);
        for (const grant of role.grants) await tx.exec(`GRANT ${grant} TO ${name}`);
      });
    }
  }
  await plan.afterMigrate?.(owner, log);
}

/** Refuses to run on a database the plan's migrations have not reached (a service started before `gateway migrate`). */
export async function checkMigrated(db: Queryable, plan: DatabasePlan): Promise<void> {
  const { rows } = await db
    .query<{ component: string; version: number }>('SELECT component, max(version) AS version FROM gateway_migrations GROUP BY component')
    .catch(() => ({ rows: [] }));
  const at = new Map(rows.map((r) => [r.component, Number(r.version)]));
  for (const { name, migrations } of plan.components) {
    const needed = Math.max(...migrations.map((m) => m.version));
    const have = at.get(name) ?? 0;
    if (have < needed) {
      throw new Error(
        `the database's ${name} tables are at migration ${have}, this gateway needs ${needed}: run \`gateway migrate\` with the owner's database.url (database.migrate is off)`,
      );
    }
  }
}

/** Where every role's privileges are granted: the tables of a plan's components, nothing else. */
export function tableGrants(privileges: string, tables: string[], sequences: string[] = []): string[] {
  return [`${privileges} ON ${tables.join(', ')}`, ...(sequences.length > 0 ? [`USAGE ON SEQUENCE ${sequences.join(', ')}`] : [])];
}
