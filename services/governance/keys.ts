import { randomBytes } from 'node:crypto';
import type { Database } from '../kit/db/types.js';
import { generateVirtualKey, hashSecret } from '../kit/secrets.js';

export interface VirtualKey {
  id: string;
  name: string;
  teamId: string;
  customerId: string;
  keyHash: Buffer;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** What the admin API and admin events show of a key: everything but its hash. */
export function publicView(key: VirtualKey) {
  return {
    id: key.id,
    name: key.name,
    team: key.teamId,
    customer: key.customerId,
    created_at: key.createdAt.toISOString(),
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}

interface KeyRow {
  id: string;
  name: string;
  key_hash: Buffer | Uint8Array;
  team_id: string;
  customer_id: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, name, key_hash, team_id, customer_id, created_at, expires_at, revoked_at';

function fromRow(row: KeyRow): VirtualKey {
  return {
    id: row.id,
    name: row.name,
    keyHash: Buffer.from(row.key_hash),
    teamId: row.team_id,
    customerId: row.customer_id,
    createdAt: new Date(row.created_at),
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
  };
}

/**
 * Virtual keys, held in memory for the request path (looked up by the hash of
 * the presented key) and persisted in PostgreSQL. Replicas stay in step by
 * reloading a key when an admin event names it.
 */
export class KeyStore {
  private readonly byHash = new Map<string, VirtualKey>();
  private readonly byId = new Map<string, VirtualKey>();

  constructor(private readonly db: Database) {}

  async loadAll(): Promise<void> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${COLUMNS} FROM virtual_keys`);
    for (const row of rows) this.put(fromRow(row));
  }

  async reload(id: string): Promise<void> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${COLUMNS} FROM virtual_keys WHERE id = $1`, [id]);
    if (rows[0]) this.put(fromRow(rows[0]));
  }

  findByHash(hash: Uint8Array): VirtualKey | undefined {
    return this.byHash.get(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex'));
  }

  get(id: string): VirtualKey | undefined {
    return this.byId.get(id);
  }

  list(): VirtualKey[] {
    return [...this.byId.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Creates a key; the returned value is the only time the key itself exists outside the caller. */
  async create(input: { name: string; teamId: string; customerId: string; expiresAt: Date | null }): Promise<{ key: VirtualKey; value: string }> {
    const value = generateVirtualKey();
    const id = `vk_${randomBytes(8).toString('hex')}`;
    const { rows } = await this.db.query<KeyRow>(
      `INSERT INTO virtual_keys (id, name, key_hash, team_id, customer_id, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [id, input.name, hashSecret(value), input.teamId, input.customerId, input.expiresAt],
    );
    const key = fromRow(rows[0]!);
    this.put(key);
    return { key, value };
  }

  async revoke(id: string): Promise<VirtualKey | undefined> {
    const { rows } = await this.db.query<KeyRow>(
      `UPDATE virtual_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    );
    if (!rows[0]) return undefined;
    const key = fromRow(rows[0]);
    this.put(key);
    return key;
  }

  private put(key: VirtualKey): void {
    const previous = this.byId.get(key.id);
    if (previous) this.byHash.delete(previous.keyHash.toString('hex'));
    this.byId.set(key.id, key);
    this.byHash.set(key.keyHash.toString('hex'), key);
  }
}
