import type { Served, Usage } from '../gen/gateway/v1/common.js';
import type { Database } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { Entry, MemoryStore, Selector } from './store.js';
import { packVector, unpackVector } from './vectors.js';

/**
 * Entries shared by every caching replica through PostgreSQL. Each replica
 * answers from memory; what it stores it also writes to `cache_entries`, and
 * every syncIntervalMs it reads the rows others wrote since and the purges
 * they logged. So an answer stored by one replica is served by all within
 * about one interval, a purge reaches all within one interval, and a replica
 * that restarts loads the newest live entries back.
 */

/** Rows read again on each sync: writes commit out of seq order, and a late one must not be skipped. */
const SEQ_OVERLAP = 1_000;

interface EntryRow {
  id: string;
  seq: string;
  namespace: string;
  key: string;
  bucket: string;
  endpoint: string;
  model: string;
  key_id: string;
  answer: Uint8Array;
  usage: Usage | null;
  served: Served | null;
  vector: Uint8Array | null;
  created_at: Date;
  expires_at: Date;
}

interface PurgeRow {
  seq: string;
  namespace: string;
  key_id: string;
  entry_id: string;
}

const COLUMNS = 'id, seq, namespace, key, bucket, endpoint, model, key_id, answer, usage, served, vector, created_at, expires_at';

function entryOf(row: EntryRow): Entry {
  const vector = row.vector ? unpackVector(row.vector) : undefined;
  return {
    id: row.id,
    namespace: row.namespace,
    key: row.key,
    bucket: row.bucket,
    endpoint: row.endpoint,
    model: row.model,
    keyId: row.key_id,
    answer: Buffer.from(row.answer),
    usage: row.usage ?? undefined,
    served: row.served ?? undefined,
    createdMs: row.created_at.getTime(),
    expiresMs: row.expires_at.getTime(),
    hits: 0,
    ...(vector ? { vector } : {}),
  };
}

/** SQL conditions for a selector, numbered from $1. */
export function selectorSql(selector: Selector): { where: string; params: string[] } {
  const conditions: string[] = [];
  const params: string[] = [];
  if (selector.namespace) {
    params.push(selector.namespace);
    conditions.push(`(namespace = $${params.length} OR left(namespace, length($${params.length}) + 1) = $${params.length} || '/')`);
  }
  if (selector.keyId) conditions.push(`key_id = $${params.push(selector.keyId)}`);
  if (selector.entryId) conditions.push(`id = $${params.push(selector.entryId)}`);
  return { where: conditions.length > 0 ? conditions.join(' AND ') : 'TRUE', params };
}

export class SharedEntries {
  private lastSeq = 0;
  private lastPurge = 0;

  constructor(
    private readonly db: Database,
    private readonly memory: MemoryStore,
    private readonly log: Logger,
    /** Takes in an entry read from the database (into memory and the semantic index). */
    private readonly takeIn: (entry: Entry) => void,
  ) {}

  /** Loads the newest live entries, as many as memory holds. */
  async load(maxEntries: number): Promise<number> {
    const purges = await this.db.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM cache_purges');
    this.lastPurge = Number(purges.rows[0]?.seq ?? 0);
    const { rows } = await this.db.query<EntryRow>(`SELECT ${COLUMNS} FROM cache_entries WHERE expires_at > now() ORDER BY seq DESC LIMIT $1`, [maxEntries]);
    // Oldest first, so the newest end up most recently used.
    for (const row of rows.reverse()) this.add(row);
    const last = await this.db.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM cache_entries');
    this.lastSeq = Number(last.rows[0]?.seq ?? 0);
    return rows.length;
  }

  /** Writes an entry stored by this replica; a failure costs only sharing, so it is logged, not thrown. */
  async save(entry: Entry): Promise<void> {
    const vector = entry.vector ? packVector(entry.vector) : null;
    await this.db
      .query(
        `INSERT INTO cache_entries (id, namespace, key, bucket, endpoint, model, key_id, answer, usage, served, vector, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (namespace, key) DO UPDATE SET id = EXCLUDED.id, seq = nextval(pg_get_serial_sequence('cache_entries', 'seq')), bucket = EXCLUDED.bucket,
           endpoint = EXCLUDED.endpoint, model = EXCLUDED.model, key_id = EXCLUDED.key_id, answer = EXCLUDED.answer, usage = EXCLUDED.usage,
           served = EXCLUDED.served, vector = EXCLUDED.vector, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
        [
          entry.id,
          entry.namespace,
          entry.key,
          entry.bucket,
          entry.endpoint,
          entry.model,
          entry.keyId,
          entry.answer,
          entry.usage ? JSON.stringify(entry.usage) : null,
          entry.served ? JSON.stringify(entry.served) : null,
          vector,
          new Date(entry.createdMs),
          new Date(entry.expiresMs),
        ],
      )
      .catch((err: unknown) => this.log.warn({ err, entry: entry.id }, 'could not share a cache entry with other replicas'));
  }

  /** Deletes the selected entries everywhere: from the database now, from other replicas at their next sync. */
  async purge(selector: Selector): Promise<number> {
    const { where, params } = selectorSql(selector);
    return this.db.transaction(async (tx) => {
      const deleted = await tx.query(`DELETE FROM cache_entries WHERE ${where}`, params);
      await tx.query('INSERT INTO cache_purges (namespace, key_id, entry_id) VALUES ($1, $2, $3)', [
        selector.namespace ?? '',
        selector.keyId ?? '',
        selector.entryId ?? '',
      ]);
      return deleted.rowCount;
    });
  }

  /** Picks up entries other replicas stored and purges they made since the last sync. */
  async sync(): Promise<void> {
    const purges = await this.db.query<PurgeRow>('SELECT seq, namespace, key_id, entry_id FROM cache_purges WHERE seq > $1 ORDER BY seq', [this.lastPurge]);
    for (const purge of purges.rows) {
      this.memory.purge({ namespace: purge.namespace || undefined, keyId: purge.key_id || undefined, entryId: purge.entry_id || undefined });
      this.lastPurge = Number(purge.seq);
    }
    const { rows } = await this.db.query<EntryRow>(`SELECT ${COLUMNS} FROM cache_entries WHERE seq > $1 AND expires_at > now() ORDER BY seq`, [
      Math.max(0, this.lastSeq - SEQ_OVERLAP),
    ]);
    for (const row of rows) {
      if (!this.memory.get(row.id)) this.add(row);
      this.lastSeq = Math.max(this.lastSeq, Number(row.seq));
    }
  }

  /** Deletes expired rows and purges older than a day (replicas have long applied them). */
  async sweep(): Promise<void> {
    await this.db.query('DELETE FROM cache_entries WHERE expires_at <= now()');
    await this.db.query("DELETE FROM cache_purges WHERE purged_at < now() - interval '1 day'");
  }

  private add(row: EntryRow): void {
    this.takeIn(entryOf(row));
  }
}
