import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database, Queryable } from '../kit/db/types.js';
import { archivedEvent, contentExpiredEvent } from '../kit/events.js';
import type { ContentExpiry } from '../gen/gateway/v1/events.js';
import type { Logger } from '../kit/log.js';
import { lockChain, type ChainKey } from './chain.js';
import { signCheckpoint, type Checkpoint } from './checkpoints.js';
import { writeAuditEvents } from './writer.js';

const PAGE = 5_000;

export interface Archived {
  rows: number;
  firstSeq: number;
  upToSeq: number;
  file: string;
  sha256: string;
  checkpoint: Checkpoint;
}

export interface Expired {
  /** The rows that left the log, when any did. */
  archived?: Archived;
  /** Partitions made ahead and months dropped whole. */
  partitions: { action: 'created' | 'dropped'; name: string }[];
}

/** An archive file being written: a run of the chain from `first` to `upTo`. */
interface Draft {
  partial: string;
  handle: FileHandle;
  digest: Hash;
  first: number;
  upTo: number;
  rows: number;
  lastHash: string;
}

/** The run of rows to archive: from the first no archive holds to the last chained before the first kept month. */
async function runToArchive(db: Queryable, retentionDays: number): Promise<{ first: number; upTo: number } | undefined> {
  // A row chained before an expired month's last one, but of a later month, was archived with it and stays in
  // its month until that is dropped: the run starts after the last archive, not at the log's first row.
  const { rows } = await db.query<{ first: string | null; up_to: string | null }>(
    `WITH archived AS (SELECT coalesce(max(up_to_seq), 0) AS seq FROM audit_archives)
     SELECT (SELECT min(seq) FROM audit_events WHERE seq > (SELECT seq FROM archived))::text AS first,
            (SELECT max(seq) FROM audit_events WHERE seq > (SELECT seq FROM archived) AND occurred_at < audit_expiry_boundary($1))::text AS up_to`,
    [retentionDays],
  );
  const first = Number(rows[0]?.first ?? 0);
  const upTo = Number(rows[0]?.up_to ?? 0);
  return first && upTo >= first ? { first, upTo } : undefined;
}

/** Appends the draft's rows after its last up to `upTo`, in chain order, a page at a time. */
async function appendRows(db: Queryable, draft: Draft, upTo: number): Promise<void> {
  for (let after = draft.upTo; after < upTo; ) {
    const { rows: page } = await db.query<Record<string, unknown> & { seq: string; hash: string }>(
      `SELECT * FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT ${PAGE}`,
      [after, upTo],
    );
    if (page.length === 0) break;
    const text = page.map((row) => `${JSON.stringify(row)}\n`).join('');
    draft.digest.update(text);
    await draft.handle.write(text);
    draft.rows += page.length;
    after = Number(page.at(-1)!.seq);
    draft.lastHash = page.at(-1)!.hash;
  }
  draft.upTo = upTo;
}

/**
 * Closes the draft as `audit-<first>-<upTo>.ndjson`, fsync'd, with a checkpoint of its last row signed by the chain
 * key beside it (`<file>.checkpoint.json`), and records the archive: where verify resumes when the file is elsewhere.
 */
async function recordArchive(tx: Queryable, draft: Draft, dir: string, key: ChainKey): Promise<Archived> {
  await draft.handle.sync();
  await draft.handle.close();
  const file = join(dir, `audit-${draft.first}-${draft.upTo}.ndjson`);
  renameSync(draft.partial, file);
  const sha256 = draft.digest.digest('hex');
  const checkpoint = signCheckpoint(key, { seq: draft.upTo, hash: draft.lastHash }, new Date());
  writeFileSync(`${file}.checkpoint.json`, `${JSON.stringify(checkpoint)}\n`, { mode: 0o600 });
  await tx.query('INSERT INTO audit_archives (first_seq, up_to_seq, last_hash, rows, file, file_sha256, checkpoint) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
    draft.first,
    draft.upTo,
    draft.lastHash,
    draft.rows,
    file,
    sha256,
    JSON.stringify(checkpoint),
  ]);
  return { rows: draft.rows, firstSeq: draft.first, upToSeq: draft.upTo, file, sha256, checkpoint };
}

/** The months before the first kept one, which the archive has emptied of unarchived rows: from the catalog, not their rows. */
async function expiringMonths(tx: Queryable, retentionDays: number): Promise<string[]> {
  const { rows } = await tx.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'audit_events'::regclass AND c.relname ~ '^audit_events_p[0-9]{6}$'
        AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= audit_expiry_boundary($1)
      ORDER BY 1`,
    [retentionDays],
  );
  return rows.map((r) => r.name);
}

/**
 * Expires the months past retention, whole: every row before the first kept month (audit_expiry_boundary, which
 * holds to the owner's floor), and any row chained before one of them, is archived (written first, then finished
 * and recorded under the chain's lock), so an archive is always a run of the chain; the owner's audit_maintain_partitions then
 * drops the months an archive now covers — a DROP, no row-by-row DELETE. A later month's rows chained before the last
 * of an expired one (a batch across the month's end) are in the archive too, and stay in their month, within
 * retention, until it goes; verify walks the database from the archive's last row. An audit.archived row naming
 * the file, its SHA-256 and the months to drop is chained onto the log first, keyed, so verify trusts an archive
 * only the chain vouches for. With `retentionDays` 0 it only makes the coming months' partitions.
 * Runs as the maintainer role, which may drop or delete nothing else (partitions.ts).
 */
export async function expireMonths(db: Database, retentionDays: number, dir: string, key: ChainKey): Promise<Expired> {
  // The long part, the export, runs before the chain's lock is taken, so the writer is not held meanwhile: the rows
  // are chained already and never change. Under the lock, rows chained since into the run are added to it.
  let draft: Draft | undefined;
  const planned = retentionDays > 0 ? await runToArchive(db, retentionDays) : undefined;
  try {
    if (planned) {
      mkdirSync(dir, { recursive: true });
      const partial = join(dir, `audit-${planned.first}.ndjson.${randomUUID()}.partial`);
      const handle = await open(partial, 'wx', 0o600);
      draft = { partial, handle, digest: createHash('sha256'), first: planned.first, upTo: planned.first - 1, rows: 0, lastHash: '' };
      await appendRows(db, draft, planned.upTo);
    }
    return await db.transaction(async (tx) => {
      await lockChain(tx);
      let archived: Archived | undefined;
      const run = draft && (await runToArchive(tx, retentionDays));
      // Another replica archived this run meanwhile: its archive stands, this draft goes.
      if (draft && run?.first === draft.first) {
        await appendRows(tx, draft, run.upTo);
        archived = await recordArchive(tx, draft, dir, key);
      }
      // Chained before anything goes: the archive's last row may be the chain's head (a late row of an expired month).
      const expiring = archived ? await expiringMonths(tx, retentionDays) : [];
      if (archived) {
        const { checkpoint, file, sha256 } = archived;
        const record = { upToSeq: archived.upToSeq, rows: archived.rows, lastHash: checkpoint.hash, file, fileSha256: sha256, droppedPartitions: expiring };
        await writeAuditEvents(tx, [archivedEvent({ service: 'audit' }, record)], key);
      }
      const { rows } = await tx.query<{ action: 'created' | 'dropped'; partition_name: string }>(
        'SELECT action, partition_name FROM audit_maintain_partitions($1)',
        [retentionDays],
      );
      const partitions = rows.map((r) => ({ action: r.action, name: r.partition_name }));
      const kept = expiring.filter((name) => !partitions.some((p) => p.action === 'dropped' && p.name === name));
      if (kept.length > 0) throw new Error(`audit months ${kept.join(', ')} were archived but not dropped; nothing expired`);
      if (archived) {
        // Strays of the DEFAULT partition from before the first kept month (a clock far off): few, deleted one by one.
        await tx.query('DELETE FROM audit_events WHERE seq <= $1 AND occurred_at < audit_expiry_boundary($2)', [archived.upToSeq, retentionDays]);
      }
      return { archived, partitions };
    });
  } finally {
    if (draft) {
      await draft.handle.close().catch(() => undefined);
      rmSync(draft.partial, { force: true });
    }
  }
}

/**
 * Expires content past its retention (content-schema.ts, audit_expire_content: months of expiry dropped whole, held
 * teams' and customers' rows set aside, set-aside rows of lifted holds removed) and chains one audit.content_expired
 * row saying what went, per class, team and customer, in the same transaction: no expiry without its record.
 */
export async function expireContent(db: Database, key: ChainKey): Promise<ContentExpiry[]> {
  return db.transaction(async (tx) => {
    await lockChain(tx);
    const { rows } = await tx.query<{ partition_name: string; data_class: string; team_id: string; customer_id: string; rows: string; held: boolean }>(
      'SELECT * FROM audit_expire_content()',
    );
    const expiries = rows.map((r) => ({
      partition: r.partition_name,
      dataClass: r.data_class,
      teamId: r.team_id,
      customerId: r.customer_id,
      rows: Number(r.rows),
      held: r.held,
    }));
    if (expiries.length > 0) await writeAuditEvents(tx, [contentExpiredEvent({ service: 'audit' }, { expiries })], key);
    return expiries;
  });
}

/** Keeps the audit log's partitions now and every interval, and expires its months past retention (0: none); returns the timer. */
export function startRetention(
  db: Database,
  key: ChainKey,
  settings: { days: number; dir: string; checkIntervalMinutes: number },
  log: Logger,
): NodeJS.Timeout {
  const run = () =>
    expireContent(db, key)
      .then((expiries) => {
        for (const e of expiries) log.info({ ...e }, e.held ? 'audit content kept under a legal hold' : 'audit content expired');
        return expireMonths(db, settings.days, settings.dir, key);
      })
      .then(
        ({ archived, partitions }) => {
          for (const p of partitions) log.info({ partition: p.name }, `audit log partition ${p.action}`);
          if (archived)
            log.info(
              { rows: archived.rows, firstSeq: archived.firstSeq, upToSeq: archived.upToSeq, file: archived.file, sha256: archived.sha256 },
              'archived audit rows past retention',
            );
        },
        (err: unknown) => log.error({ err }, 'audit retention failed; will try again'),
      );
  void run();
  const timer = setInterval(() => void run(), settings.checkIntervalMinutes * 60_000);
  timer.unref();
  return timer;
}
