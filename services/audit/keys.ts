import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeOnce } from '../kit/generated-file.js';
import type { Queryable } from '../kit/db/types.js';
import { chainKeyedEvent } from '../kit/events.js';
import { secretOf, type SecretStore } from '../kit/secrets/store.js';
import { chainKey, lockChain, type ChainKey } from './chain.js';
import type { AuditConfig } from './config.js';
import { appendToChain } from './writer.js';

/** Where a gateway without audit.chainKey keeps the key it generated: outside the database, like any key. */
export const GENERATED_KEY_FILE = 'audit-chain.key';

const MIN_KEY_LENGTH = 32;

/** The chain's keys: the one new rows are keyed with, and every one verify may meet, by id. */
export interface ChainKeys {
  current: ChainKey;
  byId: Map<string, ChainKey>;
  /** The file the current key was generated into, when it was not configured. */
  generatedFile?: string;
}

function keyOf(text: string, key: string): ChainKey {
  const trimmed = text.trim();
  if (trimmed.length < MIN_KEY_LENGTH)
    throw new Error(`${key}: a chain key needs at least ${MIN_KEY_LENGTH} characters (e.g. openssl rand -hex 32), got ${trimmed.length}`);
  return chainKey(Buffer.from(trimmed, 'utf8'));
}

/** Reads the generated key, making it (readable by this user only) when create is set and there is none. */
function generatedKey(dataDir: string, create: boolean): { key: ChainKey; file: string } | undefined {
  const file = join(dataDir, GENERATED_KEY_FILE);
  if (create) {
    writeOnce(file, `${randomBytes(32).toString('hex')}\n`);
  } else if (!existsSync(file)) {
    return undefined;
  }
  return { key: keyOf(readFileSync(file, 'utf8'), file), file };
}

/** The keys of a gateway whose chain key was generated into its data folder, if it was (tests, tools). */
export function generatedChainKeys(dataDir: string): ChainKeys | undefined {
  const generated = generatedKey(dataDir, false);
  return generated && { current: generated.key, byId: new Map([[generated.key.id, generated.key]]), generatedFile: generated.file };
}

/**
 * The chain keys from config: audit.chainKey, else the key generated into the
 * data folder (made when `create`, the service at start; the CLI only reads
 * it), and audit.previousChainKeys, which verify needs for rows keyed before a
 * rotation.
 */
export async function loadChainKeys(config: AuditConfig, dataDir: string, secrets: SecretStore, create: true): Promise<ChainKeys>;
export async function loadChainKeys(config: AuditConfig, dataDir: string, secrets: SecretStore, create: boolean): Promise<ChainKeys | undefined>;
export async function loadChainKeys(config: AuditConfig, dataDir: string, secrets: SecretStore, create: boolean): Promise<ChainKeys | undefined> {
  const previous = await Promise.all(
    config.previousChainKeys.map(async (value, i) => keyOf(await secretOf(secrets, value, `audit.previousChainKeys[${i}]`), `audit.previousChainKeys[${i}]`)),
  );
  let current: ChainKey;
  let generatedFile: string | undefined;
  if (config.chainKey) {
    current = keyOf(await secretOf(secrets, config.chainKey, 'audit.chainKey'), 'audit.chainKey');
  } else {
    const generated = generatedKey(dataDir, create);
    if (!generated) return undefined;
    ({ key: current, file: generatedFile } = generated);
  }
  return { current, byId: new Map([...previous, current].map((k) => [k.id, k])), generatedFile };
}

/** Chain keys from their values, the current one first (tests). */
export function keysOf(current: string, ...previous: string[]): ChainKeys {
  const all = [current, ...previous].map((secret) => keyOf(secret, 'chain key'));
  return { current: all[0]!, byId: new Map(all.map((k) => [k.id, k])) };
}

/**
 * Makes sure the chain is keyed with the current key from here on: when the
 * last audit.chain_keyed row names another key, or there is none (a new log,
 * or one an older version chained with plain SHA-256), a row naming the
 * current key is chained, itself keyed. A key that verify could not check
 * the rows before with (not among the previous keys) stops start-up instead.
 */
export async function ensureKeyed(db: Queryable, keys: ChainKeys): Promise<boolean> {
  await lockChain(db);
  const { rows } = await db.query<{ key_id: string }>(
    "SELECT payload->'chainKeyed'->>'keyId' AS key_id FROM audit_events WHERE event_type = 'audit.chain_keyed' ORDER BY seq DESC LIMIT 1",
  );
  const last = rows[0]?.key_id;
  if (last === keys.current.id) return false;
  if (last !== undefined && !keys.byId.has(last)) {
    const where = keys.generatedFile ? `the key generated in ${keys.generatedFile}` : 'audit.chainKey';
    throw new Error(
      `the audit log is keyed with key ${last}, not ${where} (${keys.current.id}): set audit.chainKey to the key the log was written with, or, to rotate it, list that key in audit.previousChainKeys`,
    );
  }
  await appendToChain(db, [chainKeyedEvent({ service: 'audit' }, { keyId: keys.current.id, algorithm: 'HMAC-SHA-256' })], keys.current);
  return true;
}
