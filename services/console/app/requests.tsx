import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Key, type Usage } from './api.js';
import type { AuditRow } from './audit.js';
import { ErrorLine, field, usePolling } from './forms.js';
import { usd } from './money.js';
import { params, RecordTable, When, type Column } from './records.js';

/** How far back the page looks when it opens. */
const FIRST_WINDOW_MS = 15 * 60_000;
const POLL_MS = 2_000;
/** The newest requests kept on the page, and read when it opens. */
const SHOWN = 200;

/** Whether a request matches the status filter: its outcome (completed, failed) or its HTTP status. */
const matches = (u: Usage, status: string) => !status || u.outcome === status || String(u.http_status) === status;

/** Requests as they finish, from the usage ledger, newest first: polled, filtered by model, key and status, each opened whole. */
export function RequestsPage({ canAudit }: { canAudit: boolean }) {
  const [filter, setFilter] = useState({ model: '', key: '', status: '' });
  const [rows, setRows] = useState<Usage[]>([]);
  const [paused, setPaused] = useState(false);
  const [names, setNames] = useState(new Map<string, string>());
  // Keys are shown by name where the role can list them, by id otherwise; the list is read again when a key not
  // asked about yet appears, at most once for each such key.
  const asked = useRef(new Set<string>());
  const nameKeys = async (ids: string[]) => {
    if (ids.every((id) => asked.current.has(id))) return;
    for (const id of ids) asked.current.add(id);
    const keys = await api<{ data: Key[] }>('GET', '/admin/keys').catch(() => ({ data: [] as Key[] }));
    for (const k of keys.data) asked.current.add(k.id);
    setNames(new Map(keys.data.map((k) => [k.id, k.name])));
  };

  // Model and key are filtered by the server; a change starts the list again.
  useEffect(() => setRows([]), [filter.model, filter.key]);
  // A poll still in flight when the filter changes or the page closes must neither show its rows nor poll again.
  const error = usePolling(
    () => {
      // The server's cursor: each poll gets only the requests recorded since the previous one.
      let cursor = '';
      return async (stopped) => {
        const from = cursor ? '' : new Date(Date.now() - FIRST_WINDOW_MS).toISOString();
        const query = params({ cursor, from, limit: cursor ? '' : String(SHOWN), model: filter.model, key: filter.key });
        const page = await api<{ data: Usage[]; next_cursor: string }>('GET', `/admin/usage/recent?${query}`);
        if (stopped()) return;
        cursor = page.next_cursor;
        if (page.data.length === 0) return;
        await nameKeys(page.data.map((u) => u.key_id));
        setRows((shown) => newestFirst([...page.data, ...shown]));
      };
    },
    POLL_MS,
    [filter.model, filter.key],
    !paused,
  );

  const shown = rows.filter((u) => matches(u, filter.status));
  const columns: Column<Usage>[] = [
    { title: 'Finished', cell: (u) => <When at={u.occurred_at} /> },
    { title: 'Model', cell: (u) => u.model },
    { title: 'Deployment', cell: (u) => (u.provider ? `${u.provider} · ${u.deployment}` : '—') },
    { title: 'Key', cell: (u) => names.get(u.key_id) ?? u.key_id },
    { title: 'Team', cell: (u) => u.team_id || '—' },
    { title: 'Status', cell: (u) => `${u.outcome} ${u.http_status}` },
    { title: 'Latency', cell: (u) => `${Math.round(u.duration_ms)} ms` },
    { title: 'Tokens', cell: (u) => `${u.prompt_tokens} + ${u.completion_tokens}` },
    { title: 'Cost', cell: (u) => (u.cost_usd === null ? 'unpriced' : usd(u.cost_usd)) },
    { title: 'Cache', cell: (u) => (u.cache_hit ? 'hit' : '—') },
  ];

  const apply = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    setFilter({ model: field(form, 'model').trim(), key: field(form, 'key').trim(), status: field(form, 'status').trim() });
  };

  return (
    <section aria-labelledby="requests-title">
      <h1 id="requests-title">Live requests</h1>
      <ErrorLine error={error} />
      <form class="create" onSubmit={apply} aria-label="Filter requests">
        <label>
          Model <input name="model" />
        </label>
        <label>
          Key <input name="key" placeholder="key id" />
        </label>
        <label>
          Status <input name="status" placeholder="completed, failed or 500" />
        </label>
        <button type="submit">Filter</button>
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
      </form>
      <RecordTable
        rows={shown}
        id={(u) => u.request_id}
        columns={columns}
        label="Requests"
        empty={rows.length ? 'No request matches the status.' : 'No request finished in the last 15 minutes yet.'}
        more={canAudit ? (u) => <AuditRows requestId={u.request_id} /> : undefined}
      />
    </section>
  );
}

/** Requests newest first, at most SHOWN: those that finished last, whatever order the ledger recorded them in. */
const newestFirst = (rows: Usage[]) => rows.sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at)).slice(0, SHOWN);

/** The request's rows in the audit log, for a role that may read it. */
function AuditRows({ requestId }: { requestId: string }) {
  const [rows, setRows] = useState<AuditRow[] | undefined>();
  const [error, setError] = useState('');
  useEffect(
    () =>
      void api<{ data: AuditRow[] }>('GET', `/admin/audit/events?${params({ request_id: requestId })}`).then(
        (page) => setRows(page.data),
        (err: Error) => setError(err.message),
      ),
    [requestId],
  );
  if (error) return <ErrorLine error={error} />;
  if (!rows) return null;
  return (
    <figure>
      <figcaption>Audit log for {requestId}</figcaption>
      <pre>{rows.length ? JSON.stringify(rows, null, 2) : 'No audit record yet.'}</pre>
    </figure>
  );
}
