import { join } from 'node:path';
import { applyPlan, checkMigrated, roleName, type DatabasePlan, type PlanDatabases } from '../kit/db/plan.js';
import { PGliteDatabase } from '../kit/db/pglite.js';
import { connectPostgres } from '../kit/db/postgres.js';
import type { Database } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import { secretOf, type SecretStore } from '../kit/secrets/store.js';
import type { GatewayConfig } from './config.js';

type Settings = GatewayConfig['database'];

/** The database named by database.url, whose roles are named after it. */
function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name) throw new Error("database.url names no database (postgres://host:5432/<database>): the services' roles are named after it");
  return name;
}

/** The passwords of a plan's roles, their references resolved; an error names the key. */
export async function rolePasswords(plan: DatabasePlan, settings: Settings, secrets: SecretStore): Promise<Record<string, string>> {
  const passwords: Record<string, string> = {};
  for (const key of Object.keys(plan.roles)) {
    const value = (settings.passwords as Record<string, string>)[key] ?? '';
    passwords[key] = value ? await secretOf(secrets, value, `database.passwords.${key}`) : '';
  }
  return passwords;
}

/**
 * Applies plans as the owner (database.url), on one connection closed after: what `gateway migrate` does, and each
 * service at start while database.migrate is on. `applied` hears of each plan done.
 */
export async function migrateAsOwner(
  settings: Settings,
  plans: { plan: DatabasePlan; passwords: Record<string, string> }[],
  log: Logger,
  applied: (plan: DatabasePlan) => void = () => undefined,
): Promise<void> {
  const owner = await connectPostgres(settings.url, 1, log.child({ component: 'database', role: 'owner' }));
  try {
    for (const { plan, passwords } of plans) {
      await applyPlan(owner, plan, passwords, log, settings);
      applied(plan);
    }
  } finally {
    await owner.close();
  }
}

/**
 * The databases of a process's services: each service signs in as its own
 * roles, and holds the owner only while it migrates. Embedded, the one PGlite
 * database serves every role (docs/audit.md says what that cannot enforce).
 */
export class ProcessDatabases {
  private embedded: Promise<Database> | undefined;
  private readonly pools: Database[] = [];

  constructor(
    private readonly settings: Settings,
    private readonly dataDir: string,
    private readonly secrets: SecretStore,
    private readonly log: Logger,
  ) {}

  async open(plan: DatabasePlan): Promise<PlanDatabases> {
    const { url, migrate } = this.settings;
    if (!url) {
      const db = await (this.embedded ??= PGliteDatabase.open(join(this.dataDir, 'pg')));
      await applyPlan(db, plan, {}, this.log, this.settings);
      return { as: () => db };
    }
    const passwords = await rolePasswords(plan, this.settings, this.secrets);
    if (migrate) await migrateAsOwner(this.settings, [{ plan, passwords }], this.log);
    const byRole = new Map<string, Database>();
    for (const [key, role] of Object.entries(plan.roles)) {
      const name = roleName(databaseName(url), key);
      const signedIn = new URL(url);
      signedIn.username = encodeURIComponent(name);
      signedIn.password = encodeURIComponent(passwords[key]!);
      const db = await connectPostgres(
        signedIn.toString(),
        role.poolSize ?? this.settings.poolSize,
        this.log.child({ component: 'database', role: name }),
      ).catch((err: Error) => {
        throw new Error(
          `cannot sign in to PostgreSQL as ${name}: check database.passwords.${key}, and that \`gateway migrate\` made the role (${err.message})`,
          { cause: err },
        );
      });
      this.pools.push(db);
      byRole.set(key, db);
    }
    if (!migrate) await checkMigrated(byRole.values().next().value!, plan);
    return {
      as: (key) => {
        const db = byRole.get(key);
        if (!db) throw new Error(`no database role ${key} in this plan`);
        return db;
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((db) => db.close()));
    if (this.embedded) await (await this.embedded).close();
  }
}
