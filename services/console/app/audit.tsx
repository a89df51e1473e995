import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorLine, field } from './forms.js';
import { instant, params, RecordTable, When, type Column } from './records.js';

/** One record of GET /admin/audit/events. */
export interface AuditRow {
  seq: number;
  event_type: string;
  occurred_at: string;
  request_id: string;
  actor_key_id: string;
  actor_team_id: string;
  actor_admin: string;
  payload: { request?: { model?: string; httpStatus?: number } } & Record<string, unknown>;
}

/** GET /admin/audit/head: the chain's last position and hash, with a signature when audit.signingKey is set. */
interface Head {
  seq: number;
  hash: string;
  at: string;
  signature?: string;
}

const PAGE = 50;

const COLUMNS: Column<AuditRow>[] = [
  { title: 'Seq', cell: (r) => `#${r.seq}` },
  { title: 'Time', cell: (r) => <When at={r.occurred_at} /> },
  { title: 'Type', cell: (r) => r.event_type },
  { title: 'Actor', cell: (r) => r.actor_admin || r.actor_key_id || '—' },
  { title: 'Team', cell: (r) => r.actor_team_id || '—' },
  { title: 'Model', cell: (r) => r.payload.request?.model ?? '—' },
  { title: 'Status', cell: (r) => r.payload.request?.httpStatus || '—' },
];

/** The audit log for owners and auditors: search by time, key, team, model and status, page on, export, and the chain's head. */
export function AuditPage() {
  const [query, setQuery] = useState(new URLSearchParams());
  const [rows, setRows] = useState<AuditRow[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');
  // Only the last load may show its page: an earlier search answered late must not replace (or add to) a newer one.
  const latest = useRef(0);

  const load = async (cursor?: string) => {
    const ticket = ++latest.current;
    setError('');
    try {
      const page = await api<{ data: AuditRow[]; next_cursor: string | null }>(
        'GET',
        `/admin/audit/events?${params({ ...Object.fromEntries(query), limit: String(PAGE), cursor })}`,
      );
      if (ticket !== latest.current) return;
      setRows((shown) => (cursor ? [...shown, ...page.data] : page.data));
      setNext(page.next_cursor);
    } catch (err) {
      if (ticket === latest.current) setError((err as Error).message);
    }
  };
  useEffect(() => void load(), [query]);

  const search = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const text = (name: string) => field(form, name).trim() || undefined;
    setQuery(
      params({
        from: instant(text('from') ?? ''),
        to: instant(text('to') ?? ''),
        key: text('key'),
        team: text('team'),
        model: text('model'),
        outcome: text('outcome'),
        type: text('type'),
      }),
    );
  };

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <ChainHead />
      <ErrorLine error={error} />
      <form class="create" onSubmit={search} aria-label="Search the audit log">
        <label>
          From <input name="from" type="datetime-local" step="1" />
        </label>
        <label>
          To <input name="to" type="datetime-local" step="1" />
        </label>
        <label>
          Key <input name="key" placeholder="key id" />
        </label>
        <label>
          Team <input name="team" placeholder="team id" />
        </label>
        <label>
          Model <input name="model" />
        </label>
        <label>
          Status <input name="outcome" placeholder="completed, failed, rejected or 429" />
        </label>
        <label>
          Type <input name="type" placeholder="request.*, admin.>" />
        </label>
        <button type="submit">Search</button>
        <a href={`/admin/audit/export?${query}`} download>
          Export NDJSON
        </a>
        <a href={`/admin/audit/export?${params({ ...Object.fromEntries(query), format: 'csv' })}`} download>
          Export CSV
        </a>
      </form>
      <RecordTable rows={rows} id={(r) => String(r.seq)} columns={COLUMNS} label="Audit records" empty="No audit record matches." />
      {next && (
        <button type="button" class="more" onClick={() => void load(next)}>
          Next {PAGE}
        </button>
      )}
    </section>
  );
}

/** What POST /admin/audit/verify found: the chain intact to its head, or where it breaks. */
type Verdict =
  | { ok: true; rows: number; archives: number; checkpoints: number; head: { seq: number; hash: string } }
  | { ok: false; rows: number; seq: number; problem: string };

/** Where the chain ends now, and on request a walk of every link against the checkpoints kept outside the database. */
function ChainHead() {
  const [head, setHead] = useState<Head | undefined>();
  const [error, setError] = useState('');
  const [verdict, setVerdict] = useState<Verdict | 'verifying' | undefined>();
  useEffect(() => void api<Head>('GET', '/admin/audit/head').then(setHead, (err: Error) => setError(err.message)), []);
  const verify = async () => {
    setVerdict('verifying');
    setError('');
    try {
      setVerdict(await api<Verdict>('POST', '/admin/audit/verify'));
    } catch (err) {
      setVerdict(undefined);
      setError((err as Error).message);
    }
  };
  return (
    <div class="chain">
      <ErrorLine error={error} />
      {head && (
        <p role="status" data-testid="chain-head">
          Chain head: record #{head.seq}, hash <code>{head.hash.slice(0, 16)}…</code> at <When at={head.at} />;{' '}
          {head.signature ? 'signed by audit.signingKey.' : 'not signed (audit.signingKey is not set).'}
        </p>
      )}
      <button type="button" onClick={verify} disabled={verdict === 'verifying'}>
        {verdict === 'verifying' ? 'Verifying…' : 'Verify the chain'}
      </button>
      {verdict && verdict !== 'verifying' && (
        <p role="status" data-testid="chain-verdict" class={verdict.ok ? '' : 'error'}>
          {verdict.ok
            ? `Intact: ${verdict.rows} records to #${verdict.head.seq} (${verdict.archives} archives), ${verdict.checkpoints} checkpoints matched.`
            : `Broken at record #${verdict.seq}: ${verdict.problem}. The ${verdict.rows} records before it are intact.`}
        </p>
      )}
    </div>
  );
}
