import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Queryable } from '../kit/db/types.js';
import { EventType } from '../kit/events.js';
import { CHAINED_COLUMNS, chainHash, chainHead, chainedRow, GENESIS, type ChainKey } from './chain.js';
import { CHECKPOINT_FILE, checkpointProblem, readCheckpoints, type Checkpoint } from './checkpoints.js';
import type { ChainKeys } from './keys.js';

/** Archived rows verify did not walk, their file not found: the chain resumed from the archive's signed checkpoint. */
export interface Unchecked {
  firstSeq: number;
  upToSeq: number;
  rows: number;
  file: string;
}

export type Verdict =
  | { ok: true; rows: number; archives: number; checkpoints: number; unchecked: Unchecked[]; head: { seq: number; hash: string } }
  | { ok: false; rows: number; seq: number; eventId: string; problem: string };

export interface VerifyOptions {
  keys: ChainKeys;
  /** Checkpoints kept outside the database, oldest first. */
  checkpoints?: Checkpoint[];
  /** Where to find archive files, when they were moved from the folder they were written to. */
  archiveDir?: string;
}

const PAGE = 1_000;

type Row = Record<string, unknown> & { seq: number | string; prev_hash: string | null; hash: string | null };

class Broken extends Error {
  constructor(
    readonly seq: number,
    readonly eventId: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

/**
 * One walk along the chain, row after row, from archive files then the
 * database: each row must link to the one before and match its hash, keyed
 * from the log's audit.chain_keyed row on. It collects what the chain itself
 * says was archived, and checks rows the checkpoints name.
 */
class Walk {
  previous = GENESIS;
  lastSeq = 0;
  rows = 0;
  key: ChainKey | undefined;
  readonly claims: { upToSeq: number; lastHash: string; fileSha256: string }[] = [];
  readonly seen = new Set<number>();
  /** The last row of archives not walked: checkpoints up to it saw rows verify cannot see. */
  skippedUpTo = 0;

  constructor(
    private readonly keys: ChainKeys,
    private readonly checkpoints: Map<number, Checkpoint[]>,
  ) {}

  step(row: Row): void {
    const seq = Number(row.seq);
    const eventId = String(row.event_id);
    if (row.prev_hash !== this.previous) {
      throw new Broken(
        seq,
        eventId,
        `its link to the row before is broken (expected ${this.previous.slice(0, 12)}…, found ${String(row.prev_hash).slice(0, 12)}…): a row before it was removed, inserted or changed`,
      );
    }
    const content = chainedRow(row);
    let key = this.key;
    if (content.event_type === EventType.auditChainKeyed) {
      const keyId = String((content.payload as { chainKeyed?: { keyId?: string } }).chainKeyed?.keyId);
      key = this.keys.byId.get(keyId);
      if (!key) throw new Broken(seq, eventId, `it keys the chain with key ${keyId}, which verify was not given (audit.chainKey, audit.previousChainKeys)`);
    }
    if (chainHash(this.previous, content, key) !== row.hash) {
      const why = key ? 'the row was changed, or written without the chain key (forged)' : 'the row was changed';
      throw new Broken(seq, eventId, `its content does not match its hash: ${why}`);
    }
    for (const c of this.checkpoints.get(seq) ?? []) {
      if (c.hash !== row.hash)
        throw new Broken(seq, eventId, `it is not the row the checkpoint of ${c.at} saw (hash ${c.hash.slice(0, 12)}…): the log was rewritten from here`);
    }
    if (content.event_type === EventType.auditArchived) {
      const a = (content.payload as { archived: { upToSeq: string | number; lastHash: string; fileSha256: string } }).archived;
      this.claims.push({ upToSeq: Number(a.upToSeq), lastHash: a.lastHash, fileSha256: a.fileSha256 });
    }
    this.key = key;
    this.previous = row.hash;
    this.lastSeq = seq;
    this.seen.add(seq);
    this.rows++;
  }

  /** Goes on after rows not walked, from a checkpoint of the last of them (checked by the caller), keyed as it was. */
  resume(c: Checkpoint, key: ChainKey): void {
    this.previous = c.hash;
    this.lastSeq = Number(c.seq);
    this.key = key;
    this.skippedUpTo = this.lastSeq;
  }
}

interface ArchiveRecord {
  id: number;
  first_seq?: number | null;
  up_to_seq: number;
  last_hash: string;
  rows: number;
  file: string;
  file_sha256: string;
  checkpoint?: Checkpoint | null;
}

/**
 * Walks an archive's file: its SHA-256 must be the recorded one, and its rows must continue the chain up to the
 * record's last row. A file not found is skipped when the archive carries a checkpoint of its last row signed with a
 * chain key (months expired whole since audit migration 5): the walk resumes from it, and the range is returned.
 */
function walkArchive(walk: Walk, archive: ArchiveRecord, dir: string | undefined, keys: ChainKeys): Unchecked | undefined {
  const upTo = Number(archive.up_to_seq);
  const path = dir ? join(dir, basename(archive.file)) : archive.file;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const c = archive.checkpoint;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && c && Number(c.seq) === upTo && c.hash === archive.last_hash) {
      const problem = checkpointProblem(c, keys);
      if (problem) throw new Broken(upTo, '', `archive ${archive.id}'s checkpoint cannot be trusted: ${problem}`);
      const firstSeq = Number(archive.first_seq ?? walk.lastSeq + 1);
      walk.resume(c, keys.byId.get(c.keyId)!);
      return { firstSeq, upToSeq: upTo, rows: Number(archive.rows), file: path };
    }
    throw new Broken(
      upTo,
      '',
      `archive ${archive.id} (rows up to ${upTo}) cannot be checked: ${(err as Error).message} (give --archive-dir where the archive files are)`,
    );
  }
  if (createHash('sha256').update(text).digest('hex') !== archive.file_sha256) {
    throw new Broken(upTo, '', `archive ${archive.id}'s file ${path} is not the file archived (its SHA-256 differs)`);
  }
  try {
    for (const line of text.split('\n')) if (line) walk.step(JSON.parse(line) as Row);
  } catch (err) {
    if (!(err instanceof Broken)) throw err;
    throw new Broken(err.seq, err.eventId, `archive ${archive.id}'s file ${path} does not continue the chain: ${err.problem}`);
  }
  if (walk.lastSeq !== upTo || walk.previous !== archive.last_hash) {
    throw new Broken(
      upTo,
      '',
      `archive ${archive.id} says it holds rows up to ${upTo} ending in ${archive.last_hash.slice(0, 12)}…, but its file ends at row ${walk.lastSeq}`,
    );
  }
  return undefined;
}

/**
 * Walks the whole chain — every archive's file, then the rows in the database
 * — recomputing every hash with the chain's keys, and checks it against the
 * checkpoints kept outside the database. The first row that does not match is
 * named: changed, removed, inserted or forged without the key; an archive
 * record the chain does not vouch for; a row a checkpoint saw otherwise; a
 * log that ends before a checkpoint (rolled back); a head not keyed at all.
 */
/**
 * Verifies the log against the checkpoints kept in a folder (checkpoints.ndjson): what `gateway audit verify` and
 * POST /admin/audit/verify run. A line of the file that is not a checkpoint is itself a broken verdict.
 */
export async function verifyWithCheckpoints(db: Queryable, keys: ChainKeys, dir: string, archiveDir?: string): Promise<Verdict> {
  const { checkpoints, unreadable } = readCheckpoints(dir);
  if (unreadable.length > 0)
    return { ok: false, rows: 0, seq: 0, eventId: '', problem: `line ${unreadable[0]} of ${join(dir, CHECKPOINT_FILE)} is not a checkpoint` };
  return verifyChain(db, { keys, checkpoints, archiveDir });
}

export async function verifyChain(db: Queryable, options: VerifyOptions): Promise<Verdict> {
  const checkpoints = new Map<number, Checkpoint[]>();
  for (const [i, c] of (options.checkpoints ?? []).entries()) {
    const problem = checkpointProblem(c, options.keys);
    if (problem) return { ok: false, rows: 0, seq: Number(c.seq), eventId: '', problem: `checkpoint ${i + 1} (of ${c.at}) cannot be trusted: ${problem}` };
    checkpoints.set(c.seq, [...(checkpoints.get(c.seq) ?? []), c]);
  }
  const walk = new Walk(options.keys, checkpoints);
  const unchecked: Unchecked[] = [];
  try {
    const { rows: archives } = await db.query<ArchiveRecord>(
      // Every column: first_seq and checkpoint are there from audit migration 5 on, and verify reads older logs too.
      'SELECT * FROM audit_archives ORDER BY up_to_seq, id',
    );
    for (const archive of archives) {
      const skipped = walkArchive(walk, archive, options.archiveDir, options.keys);
      if (skipped) unchecked.push(skipped);
    }
    for (;;) {
      const { rows } = await db.query<Row>(`SELECT seq, prev_hash, hash, ${CHAINED_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`, [
        walk.lastSeq,
      ]);
      for (const row of rows) walk.step(row);
      if (rows.length < PAGE) break;
    }
    for (const a of archives) {
      const vouched = walk.claims.some((c) => c.upToSeq === Number(a.up_to_seq) && c.lastHash === a.last_hash && c.fileSha256 === a.file_sha256);
      if (!vouched)
        throw new Broken(
          Number(a.up_to_seq),
          '',
          `archive ${a.id} (rows up to ${a.up_to_seq}) is not in the chain: no audit.archived row records it, so it was added by hand`,
        );
    }
    if (walk.rows > 0 && !walk.key) {
      throw new Broken(
        walk.lastSeq,
        '',
        'the log is not keyed: its last row is hashed with plain SHA-256, which anyone who can write rows can recompute (a gateway keys the chain at start)',
      );
    }
    // Those in an archive not walked were verified from the archive's own checkpoint.
    const kept = [...checkpoints].filter(([seq]) => seq > walk.skippedUpTo);
    // The furthest checkpoint past the log's end says how many rows were removed.
    const beyond = kept.filter(([seq]) => seq > walk.lastSeq).sort(([a], [b]) => b - a)[0];
    if (beyond) {
      const [seq, [c]] = beyond;
      throw new Broken(
        seq,
        '',
        `the log ends at row ${walk.lastSeq}, but the checkpoint of ${c!.at} saw row ${seq}: rows were removed from its end (rolled back or truncated)`,
      );
    }
    for (const [seq, [c]] of kept) {
      if (!walk.seen.has(seq)) throw new Broken(seq, '', `the checkpoint of ${c!.at} saw row ${seq}, which is neither in the log nor in an archive`);
    }
  } catch (err) {
    if (!(err instanceof Broken)) throw err;
    return { ok: false, rows: walk.rows, seq: err.seq, eventId: err.eventId, problem: err.problem };
  }
  return { ok: true, rows: walk.rows, archives: walk.claims.length, checkpoints: options.checkpoints?.length ?? 0, unchecked, head: await chainHead(db) };
}

/**
 * The chain's head, signed with an Ed25519 key, to be kept outside the
 * database: a later verify that ends on the same hash proves nothing before it
 * was rewritten.
 */
export async function signedHead(db: Queryable, privateKeyPem: string | undefined) {
  const head = await chainHead(db);
  const statement = { log: 'audit_events', seq: head.seq, hash: head.hash, at: new Date().toISOString() };
  if (!privateKeyPem) return statement;
  const key = createPrivateKey(privateKeyPem);
  const signature = sign(null, Buffer.from(JSON.stringify(statement)), key).toString('base64');
  const publicKey = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return { ...statement, signature, public_key: publicKey, signed: 'the JSON of log, seq, hash and at, in that order, with Ed25519' };
}
