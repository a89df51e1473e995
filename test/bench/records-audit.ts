/**
 * The audit log's part of `npm run bench:records`: the same requests written
 * through the audit writer (chained, keyed, in batches of 500 under the chain's
 * lock) into the partitioned log, then bytes on disk per row, an auditor's
 * search of one key's day, the expiry of the oldest month (archived, then
 * dropped) and a verify of the whole chain after it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditQuery } from '../../services/gen/gateway/v1/audit.js';
import { ensureKeyed, keysOf } from '../../services/audit/keys.js';
import { auditMigrations } from '../../services/audit/migrations.js';
import { AuditReader } from '../../services/audit/query.js';
import { expireMonths } from '../../services/audit/retention.js';
import { verifyChain } from '../../services/audit/verify.js';
import { writeAuditEvents } from '../../services/audit/writer.js';
import { migrate } from '../../services/kit/db/migrate.js';
import type { Database } from '../../services/kit/db/types.js';
import type { Event } from '../../services/kit/events.js';
import type { Logger } from '../../services/kit/log.js';

export interface Bench {
  db: Database;
  log: Logger;
  rows: number;
  batch: number;
  /** The i-th request's event, at a time within the bench's months, oldest first. */
  event(i: number): Event;
  /** The first instant of the month `back` months before this one. */
  monthStart(back: number): Date;
  months: number;
  size(table: string): Promise<{ heap: number; indexes: number }>;
}

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export async function benchAuditLog(b: Bench): Promise<void> {
  const { db } = b;
  const keys = keysOf('the records bench audit chain key, 32+ characters');
  await migrate(db, 'audit', auditMigrations, b.log);
  for (let back = 1; back < b.months; back++) await db.query("SELECT audit_add_partition('audit_events', $1)", [b.monthStart(back).toISOString()]);
  await db.transaction((tx) => ensureKeyed(tx, keys));

  let start = process.hrtime.bigint();
  // The rate of the first and the last tenth of the rows: does ingest slow as the log fills?
  const tenth = Math.floor(b.rows / 10 / b.batch) * b.batch;
  const rates: number[] = [];
  let since = start;
  for (let i = 0; i < b.rows; i += b.batch) {
    if (tenth > 0 && (i === tenth || i === b.rows - tenth)) {
      if (i === tenth) rates.push(tenth / (ms(since) / 1000));
      since = process.hrtime.bigint();
    }
    const events = Array.from({ length: Math.min(b.batch, b.rows - i) }, (_, j) => b.event(i + j));
    await db.transaction((tx) => writeAuditEvents(tx, events, keys.current));
  }
  if (tenth > 0) rates.push(tenth / (ms(since) / 1000));
  const ingest = ms(start);
  await db.exec('VACUUM ANALYZE audit_events');
  console.log(
    `${b.rows.toLocaleString('en')} audit rows written in ${(ingest / 1000).toFixed(1)} s: ${Math.round(b.rows / (ingest / 1000)).toLocaleString('en')} rows/s (chained and keyed, batches of ${b.batch}); first tenth ${rates.map((r) => Math.round(r).toLocaleString('en')).join(' rows/s, last tenth ')} rows/s`,
  );
  const widths = await db.query<{ row: number; payload: number }>(
    'SELECT avg(pg_column_size(a.*))::int AS row, avg(pg_column_size(payload))::int AS payload FROM audit_events a',
  );
  const s = await b.size('audit_events');
  console.log(
    `audit log: row data ${widths.rows[0]!.row} B on average (payload ${widths.rows[0]!.payload} B); heap ${mb(s.heap)}, indexes ${mb(s.indexes)}; ${Math.round(s.heap / b.rows)} + ${Math.round(s.indexes / b.rows)} = ${Math.round((s.heap + s.indexes) / b.rows)} B a row`,
  );

  // An auditor's search: one key's requests over one day of last month, a page of up to 1,000, as /admin/audit/events.
  const reader = new AuditReader(db, undefined, undefined, () => Promise.reject(new Error('the bench does not verify')));
  const day = new Date(b.monthStart(1).getTime() + 14 * 86_400_000);
  const keyId = (b.event(Math.floor(b.rows / 2)).actor?.keyId ?? '') as string;
  const times: number[] = [];
  let found = 0;
  for (let run = 0; run < 3; run++) {
    start = process.hrtime.bigint();
    const page = await reader.query(
      AuditQuery.fromPartial({ keyId, from: day.toISOString(), to: new Date(day.getTime() + 86_400_000).toISOString(), limit: 1_000 }),
    );
    times.push(ms(start));
    found = page.records.length;
  }
  console.log(`audit search, one key's day (${found} rows): ${times.map((t) => t.toFixed(0)).join(' / ')} ms (3 runs)`);

  const dir = mkdtempSync(join(tmpdir(), 'records-bench-archive-'));
  try {
    const days = Math.floor((Date.now() - b.monthStart(b.months - 2).getTime()) / 86_400_000);
    start = process.hrtime.bigint();
    const { archived, partitions } = await expireMonths(db, days, dir, keys.current);
    const expiry = ms(start);
    const dropped = partitions.filter((p) => p.action === 'dropped').map((p) => p.name);
    console.log(
      `audit expiry of ${b
        .monthStart(b.months - 1)
        .toISOString()
        .slice(0, 7)}: ${(archived?.rows ?? 0).toLocaleString('en')} rows archived to a file and ${dropped.join(', ')} dropped in ${expiry.toFixed(0)} ms`,
    );
    start = process.hrtime.bigint();
    const verdict = await verifyChain(db, { keys });
    console.log(
      `audit verify after it: ${verdict.ok ? 'intact' : `BROKEN: ${verdict.problem}`}, ${verdict.rows.toLocaleString('en')} rows walked (archive file and log) in ${(ms(start) / 1000).toFixed(1)} s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
