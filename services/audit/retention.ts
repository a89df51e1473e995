import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../kit/db/types.js';
import { archivedEvent } from '../kit/events.js';
import { lockChain, type ChainKey } from './chain.js';
import { writeAuditEvents } from './writer.js';

const PAGE = 5_000;

export interface Archived {
  rows: number;
  upToSeq: number;
  file: string;
  sha256: string;
}

/**
 * Moves the rows older than `cutoff` (the oldest run of them, in chain order)
 * to an NDJSON archive file, then deletes them, all in one transaction that
 * holds the chain: the file is written and fsync'd first, the archive is
 * recorded with the last archived hash (where verify resumes), and an
 * audit.archived row — naming the file and its SHA-256 — is chained onto the
 * log itself, keyed, so verify trusts an archive only the chain vouches for.
 * Runs as the maintainer role, the one that may delete, and only rows an
 * archive record covers (the table's trigger refuses any other).
 */
export async function archiveOlderThan(db: Database, cutoff: Date, dir: string, key: ChainKey): Promise<Archived | undefined> {
  return db.transaction(async (tx) => {
    await lockChain(tx);
    const { rows: bounds } = await tx.query<{ first: string | null; up_to: string | null }>(
      `SELECT (SELECT min(seq) FROM audit_events)::text AS first,
              (SELECT CASE WHEN min(seq) FILTER (WHERE occurred_at >= $1) IS NULL THEN max(seq) ELSE min(seq) FILTER (WHERE occurred_at >= $1) - 1 END
                 FROM audit_events)::text AS up_to`,
      [cutoff],
    );
    const first = Number(bounds[0]?.first ?? 0);
    const upTo = Number(bounds[0]?.up_to ?? 0);
    if (!first || upTo < first) return undefined;

    mkdirSync(dir, { recursive: true });
    const file = join(dir, `audit-${first}-${upTo}.ndjson`);
    const handle = await open(file, 'w');
    const digest = createHash('sha256');
    let rows = 0;
    let lastHash = '';
    try {
      for (let after = first - 1; after < upTo; ) {
        const { rows: page } = await tx.query<Record<string, unknown> & { seq: string; hash: string }>(
          `SELECT * FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT ${PAGE}`,
          [after, upTo],
        );
        if (page.length === 0) break;
        const text = page.map((row) => `${JSON.stringify(row)}\n`).join('');
        digest.update(text);
        await handle.write(text);
        rows += page.length;
        after = Number(page.at(-1)!.seq);
        lastHash = page.at(-1)!.hash;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    const sha256 = digest.digest('hex');
    await tx.query('INSERT INTO audit_archives (up_to_seq, last_hash, rows, file, file_sha256) VALUES ($1, $2, $3, $4, $5)', [
      upTo,
      lastHash,
      rows,
      file,
      sha256,
    ]);
    await tx.query('DELETE FROM audit_events WHERE seq <= $1', [upTo]);
    await writeAuditEvents(tx, [archivedEvent({ service: 'audit' }, { upToSeq: upTo, rows, lastHash, file, fileSha256: sha256 })], key);
    return { rows, upToSeq: upTo, file, sha256 };
  });
}
