import { useEffect, useRef, useState } from 'preact/hooks';
import { api, lines, type Key, type Usage } from './api.js';
import type { AuditRow } from './audit.js';
import { ErrorLine, field, usePolling } from './forms.js';
import { usd } from './money.js';
import { params, RecordTable, When, type Column } from './records.js';

/** How far back the page looks when it opens. */
const FIRST_WINDOW_MS = 15 * 60_000;
/**
 * Each poll asks again from this long before the newest request seen, and drops those it has: the ledger is written
 * from the event stream in batches, so a request may land after one that finished later.
 */
const OVERLAP_MS = 60_000;
const POLL_MS = 2_000;
/** The newest requests kept on the page. */
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
      let newest = Date.now() - FIRST_WINDOW_MS;
      return async (stopped) => {
        const query = params({ format: 'ndjson', from: new Date(newest - OVERLAP_MS).toISOString(), model: filter.model, key: filter.key });
        const fresh = await lines<Usage>(`/admin/usage/export?${query}`);
        if (stopped()) return;
        await nameKeys(fresh.map((u) => u.key_id));
        for (const u of fresh) newest = Math.max(newest, Date.parse(u.occurred_at));
        setRows((shown) => merge(shown, fresh));
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

/** The requests already shown and the fresh ones, once each, newest first, at most SHOWN. */
function merge(shown: Usage[], fresh: Usage[]): Usage[] {
  const byId = new Map(shown.map((u) => [u.request_id, u]));
  for (const u of fresh) byId.set(u.request_id, u);
  return [...byId.values()].sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at)).slice(0, SHOWN);
}

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
