import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queryable } from '../kit/db/types.js';
import { checkpointEvent, type Event } from '../kit/events.js';
import type { Logger } from '../kit/log.js';
import { chainHead, type ChainKey } from './chain.js';
import type { ChainKeys } from './keys.js';

/** The file checkpoints are appended to, one JSON object a line, in their folder. */
export const CHECKPOINT_FILE = 'checkpoints.ndjson';

/** The chain's head at a moment, with an HMAC by the chain key: only the key's holder can make one. */
export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
  keyId: string;
  mac: string;
}

const macOf = (key: ChainKey, c: Omit<Checkpoint, 'mac'>) =>
  createHmac('sha256', key.secret)
    .update(JSON.stringify({ log: 'audit_events', seq: c.seq, hash: c.hash, at: c.at, keyId: c.keyId }))
    .digest('hex');

export function signCheckpoint(key: ChainKey, head: { seq: number; hash: string }, at: Date): Checkpoint {
  const unsigned = { seq: head.seq, hash: head.hash, at: at.toISOString(), keyId: key.id };
  return { ...unsigned, mac: macOf(key, unsigned) };
}

/** Why a checkpoint cannot be trusted, or undefined when its key made it. */
export function checkpointProblem(c: Checkpoint, keys: ChainKeys): string | undefined {
  const key = keys.byId.get(c.keyId);
  if (!key) return `it is signed with key ${c.keyId}, which verify was not given (audit.chainKey, audit.previousChainKeys)`;
  const expected = Buffer.from(macOf(key, c), 'hex');
  const given = Buffer.from(String(c.mac), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'its signature does not match: it was forged or changed';
}

/** The checkpoints in a folder, oldest first; a line that is not one is returned as a problem, by line number. */
export function readCheckpoints(dir: string): { checkpoints: Checkpoint[]; unreadable: number[] } {
  const file = join(dir, CHECKPOINT_FILE);
  if (!existsSync(file)) return { checkpoints: [], unreadable: [] };
  const checkpoints: Checkpoint[] = [];
  const unreadable: number[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const c = JSON.parse(line) as Checkpoint;
        if (!Number.isSafeInteger(c.seq) || typeof c.hash !== 'string') throw new Error('not a checkpoint');
        checkpoints.push(c);
      } catch {
        unreadable.push(i + 1);
      }
    });
  return { checkpoints, unreadable };
}

/**
 * Every interval, when the head has moved, appends a signed checkpoint of it
 * to the file (fsync'd) and emits it as an audit.checkpoint event for the SIEM
 * sinks: two copies the database's users cannot reach, so a log rolled back,
 * or rewritten, after a checkpoint is caught by verify.
 */
export function startCheckpoints(
  db: Queryable,
  keys: ChainKeys,
  settings: { dir: string; intervalSeconds: number },
  emit: (event: Event) => void,
  log: Logger,
): { stop(): Promise<void> } {
  mkdirSync(settings.dir, { recursive: true });
  const file = join(settings.dir, CHECKPOINT_FILE);
  let lastSeq = readCheckpoints(settings.dir).checkpoints.at(-1)?.seq ?? 0;
  let running: Promise<void> = Promise.resolve();
  const once = async () => {
    const head = await chainHead(db);
    if (head.seq === lastSeq || head.seq === 0) return;
    // Said at once, not only when someone runs verify: the database lost rows a checkpoint saw.
    if (head.seq < lastSeq)
      log.error(
        { head: head.seq, checkpoint: lastSeq, file },
        'the audit log ends before its last checkpoint: rolled back or truncated (gateway audit verify names it)',
      );
    const at = new Date();
    const checkpoint = signCheckpoint(keys.current, head, at);
    const handle = await open(file, 'a', 0o600);
    try {
      await handle.write(`${JSON.stringify(checkpoint)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    lastSeq = head.seq;
    emit(checkpointEvent({ service: 'audit' }, at, { seq: head.seq, hash: head.hash, keyId: checkpoint.keyId, mac: checkpoint.mac }));
  };
  const run = () => {
    running = running.then(once).catch((err: unknown) => log.error({ err }, 'audit checkpoint failed; will try again'));
  };
  run();
  const timer = setInterval(run, settings.intervalSeconds * 1000);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      run(); // the head as the service stops, so a restart's rows are compared against it
      await running;
    },
  };
}
