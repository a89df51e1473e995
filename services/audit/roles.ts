import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { ServiceContext } from '../kit/service.js';
import type { Database } from '../kit/db/types.js';
import type { SecretStore } from '../kit/secrets/store.js';
import type { AuditConfig } from './config.js';
import { secretOf } from './keys.js';

/** The audit log's connections: each does only what its role may. */
export interface AuditConnections {
  /** The consumer's appends and the auditors' reads: INSERT and SELECT only. */
  writer: Database;
  /** Retention: may also delete archived rows and record archives. */
  maintainer: Database;
  close(): Promise<void>;
}

/** The roles audit migration 3 made for this database (roles are the cluster's, so named after it). */
export async function auditRoles(owner: Database): Promise<{ writer: string; maintainer: string }> {
  const { rows } = await owner.query<{ db: string }>('SELECT current_database() AS db');
  return { writer: `${rows[0]!.db}_audit_writer`, maintainer: `${rows[0]!.db}_audit_maintainer` };
}

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

/** The consumer writes one batch at a time; the rest serve auditors' reads and checkpoints. */
const WRITER_POOL = 4;

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Connects as the audit roles: the owner (database.url) sets their passwords
 * from config, and each role gets its own pool to the same database. The
 * embedded database has one user in one process: all three are the one
 * connection (docs/audit.md says what that cannot enforce).
 */
export async function connectAuditRoles(
  owner: Database,
  databaseAs: ServiceContext['databaseAs'],
  settings: AuditConfig['database'],
  secrets: SecretStore,
): Promise<AuditConnections> {
  if (owner.kind === 'pglite') return { writer: owner, maintainer: owner, close: async () => undefined };
  const roles = await auditRoles(owner);
  const connect = async (role: string, password: string, key: string, size: number) => {
    const secret = password ? await secretOf(secrets, password, key) : '';
    if (secret) await owner.query(`ALTER ROLE ${ident(role)} PASSWORD '${scramVerifier(secret)}'`);
    const connected = databaseAs(role, secret, size);
    if (!connected) throw new Error('audit roles need PostgreSQL (database.url)');
    return connected.catch((err: Error) => {
      throw new Error(`audit cannot sign in to PostgreSQL as role ${role}: check ${key} (${err.message})`, { cause: err });
    });
  };
  const writer = await connect(roles.writer, settings.writerPassword, 'audit.database.writerPassword', WRITER_POOL);
  const maintainer = await connect(roles.maintainer, settings.maintainerPassword, 'audit.database.maintainerPassword', 2).catch(async (err: unknown) => {
    await writer.close();
    throw err;
  });
  return { writer, maintainer, close: async () => void (await Promise.all([writer.close(), maintainer.close()])) };
}
