import { useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { ConfirmButton, ErrorLine, field, useLoaded } from './forms.js';
import { params, When } from './records.js';

/** One entry of GET /admin/cache/entries: metadata only, never the answer. */
interface Entry {
  id: string;
  namespace: string;
  endpoint: string;
  model: string;
  served: { provider: string; model: string } | null;
  key_id: string;
  match: string;
  created_at: string;
  expires_at: string;
  hits: number;
  size_bytes: number;
}

/** The API's selectors: a namespace (with its sub-namespaces), a virtual key's id, one entry's id. */
type Filter = { namespace: string; key: string; entry: string };

/** What a purge with this filter removes, for its confirmation. */
const scopeOf = (f: Filter) =>
  [f.namespace && `namespace ${f.namespace}`, f.key && `key ${f.key}`, f.entry && `entry ${f.entry}`].filter(Boolean).join(', ') || 'every entry';

/**
 * The response cache's entries, newest first, selected as the API selects them; a role that may write purges what the
 * filter selects (everything, with no filter, for an unscoped token), in two clicks.
 */
export function CachePage({ canWrite }: { canWrite: boolean }) {
  // A ref, so the loader that useLoaded keeps from the first render reads the filter applied last.
  const filter = useRef<Filter>({ namespace: '', key: '', entry: '' });
  const [purged, setPurged] = useState<number | undefined>();
  const { data, error, run } = useLoaded(
    () => api<{ data: Entry[]; total: number }>('GET', `/admin/cache/entries?${params({ ...filter.current, limit: '200' })}`),
    { data: [] as Entry[], total: 0 },
  );
  const apply = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    filter.current = { namespace: field(form, 'namespace').trim(), key: field(form, 'key').trim(), entry: field(form, 'entry').trim() };
    setPurged(undefined);
    void run();
  };
  const purge = () =>
    run(async () => {
      const selected = params({ ...filter.current });
      const answer = await api<{ purged: number }>('DELETE', `/admin/cache/entries?${selected.size ? selected : 'all=true'}`);
      setPurged(answer.purged);
    });

  return (
    <section aria-labelledby="cache-title">
      <h1 id="cache-title">Response cache</h1>
      <ErrorLine error={error} />
      <form class="create" onSubmit={apply} aria-label="Select cache entries">
        <label>
          Namespace <input name="namespace" placeholder="team:search" />
        </label>
        <label>
          Key <input name="key" placeholder="key id" />
        </label>
        <label>
          Entry <input name="entry" placeholder="entry id" />
        </label>
        <button type="submit">Select</button>
        {canWrite && <ConfirmButton label="Purge" what={scopeOf(filter.current)} onConfirm={purge} />}
      </form>
      {purged !== undefined && <p role="status">Purged {purged === 1 ? '1 entry' : `${purged} entries`}.</p>}
      <p class="hint">
        {data.data.length} of {data.total} entries shown, newest first.
      </p>
      <div class="table">
        <table aria-label="Cache entries">
          <thead>
            <tr>
              <th>Entry</th>
              <th>Namespace</th>
              <th>Model</th>
              <th>Served by</th>
              <th>Key</th>
              <th>Match</th>
              <th>Hits</th>
              <th>Size</th>
              <th>Stored</th>
              <th>Expires</th>
            </tr>
          </thead>
          <tbody>
            {data.data.map((e) => (
              <tr key={e.id}>
                <td>
                  <code>{e.id}</code>
                </td>
                <td>{e.namespace}</td>
                <td>
                  {e.model} <span class="hint">({e.endpoint})</span>
                </td>
                <td>{e.served ? `${e.served.provider}/${e.served.model}` : '—'}</td>
                <td>{e.key_id || '—'}</td>
                <td>{e.match}</td>
                <td>{e.hits}</td>
                <td>{e.size_bytes} B</td>
                <td>
                  <When at={e.created_at} />
                </td>
                <td>
                  <When at={e.expires_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {data.data.length === 0 && <p class="empty">No entry is selected.</p>}
      </div>
    </section>
  );
}
