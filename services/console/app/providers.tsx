import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ConfirmButton, ErrorLine, field, useLoaded } from './forms.js';
import { DeploymentHealth } from './health.js';
import { When } from './records.js';

/** GET /admin/deployments: each model name clients may send, with the deployments a request for it may reach. */
interface Routed {
  model: string;
  deployments: { provider: string; model: string }[];
}

/** A provider or model added through the admin API, as GET /admin/providers and /admin/models list it. */
interface Entry {
  name: string;
  entry: unknown;
  updated_at: string;
}

type Kind = 'providers' | 'models';

const REFERENCE = /^(env|file|vault):/;

/** Every credential of an entry as where it is and its reference's kind only: the page never shows which secret, let alone its value. */
function credentials(value: unknown, at = ''): string[] {
  if (typeof value === 'string') return REFERENCE.test(value) ? [`${at}: ${value.slice(0, value.indexOf(':'))} reference`] : [];
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => credentials(v, at ? `${at}.${k}` : k));
  return [];
}

/** The entry without its credentials, for reading at a glance. */
const settings = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' && REFERENCE.test(v) ? undefined : v));

/**
 * Models and their deployments as routing resolves them (config file and admin API together), and the providers and
 * models added through the admin API, which a role that may manage routing adds, replaces and removes.
 */
export function ProvidersPage({ canManage }: { canManage: boolean }) {
  const { data, error, run } = useLoaded(
    async () => {
      const [routed, providers, models] = await Promise.all([
        api<{ data: Routed[] }>('GET', '/admin/deployments'),
        api<{ data: Entry[] }>('GET', '/admin/providers'),
        api<{ data: Entry[] }>('GET', '/admin/models'),
      ]);
      return { routed: routed.data, providers: providers.data, models: models.data };
    },
    { routed: [] as Routed[], providers: [] as Entry[], models: [] as Entry[] },
  );
  const [editing, setEditing] = useState<{ kind: Kind; name: string; entry: string } | undefined>();
  // Counts saves, so the form starts empty again after each one (and keeps what was typed when the server refuses it).
  const [saves, setSaves] = useState(0);
  const [reads, setReads] = useState(0);
  const added = new Set(data.models.map((m) => m.name));

  const entries = (kind: Kind, rows: Entry[], title: string) => (
    <section aria-labelledby={`${kind}-title`}>
      <h2 id={`${kind}-title`}>{title}</h2>
      <div class="table">
        <table aria-label={title}>
          <thead>
            <tr>
              <th>Name</th>
              <th>Settings</th>
              {kind === 'providers' && <th>Credentials</th>}
              <th>Changed</th>
              {canManage && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.name}>
                <td>{e.name}</td>
                <td>
                  <code>{settings(e.entry)}</code>
                </td>
                {kind === 'providers' && <td>{credentials(e.entry).join(', ') || 'none'}</td>}
                <td>
                  <When at={e.updated_at} />
                </td>
                {canManage && (
                  <td class="actions">
                    <button type="button" onClick={() => setEditing({ kind, name: e.name, entry: JSON.stringify(e.entry, null, 2) })}>
                      Edit
                    </button>
                    <ConfirmButton label="Remove" what={e.name} onConfirm={() => run(() => api('DELETE', `/admin/${kind}/${encodeURIComponent(e.name)}`))} />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <p class="empty">None added through the admin API.</p>}
      </div>
    </section>
  );

  return (
    <section aria-labelledby="providers-title">
      <h1 id="providers-title">Providers and models</h1>
      <ErrorLine error={error} />
      <button
        type="button"
        class="refresh"
        onClick={() => {
          void run();
          setReads((n) => n + 1);
        }}
      >
        Refresh
      </button>
      <div class="table">
        <table aria-label="Models">
          <thead>
            <tr>
              <th>Model</th>
              <th>Deployments it may reach</th>
              <th>Defined in</th>
            </tr>
          </thead>
          <tbody>
            {data.routed.map((r) => (
              <tr key={r.model}>
                <td>{r.model}</td>
                <td>{r.deployments.map((d) => `${d.provider}/${d.model}`).join(', ') || 'none'}</td>
                <td>{added.has(r.model) ? 'admin API' : 'config file'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {data.routed.length === 0 && <p class="empty">No model names are defined; clients send provider/model.</p>}
      </div>
      {/* Remounted by Refresh, so it reads the deployments again at once. */}
      <DeploymentHealth key={reads} />
      {canManage && (
        <EntryForm
          key={editing ? `${editing.kind}/${editing.name}` : `new-${saves}`}
          editing={editing}
          onSave={(kind, name, body) =>
            run(async () => {
              await api('PUT', `/admin/${kind}/${encodeURIComponent(name)}`, body);
              setEditing(undefined);
              setSaves((n) => n + 1);
            })
          }
          onCancel={() => setEditing(undefined)}
        />
      )}
      {entries('providers', data.providers, 'Providers added through the admin API')}
      {entries('models', data.models, 'Models added through the admin API')}
    </section>
  );
}

/** Adds or replaces a provider or model: its entry as JSON, as in routing.providers or routing.models. */
function EntryForm({
  editing,
  onSave,
  onCancel,
}: {
  editing?: { kind: Kind; name: string; entry: string };
  onSave: (kind: Kind, name: string, body: unknown) => Promise<void>;
  onCancel: () => void;
}) {
  const [invalid, setInvalid] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    let body: unknown;
    try {
      body = JSON.parse(field(form, 'entry'));
    } catch {
      setInvalid('The entry is not JSON: an object, or for a model alias a string in quotes.');
      return;
    }
    setInvalid('');
    void onSave(field(form, 'kind') as Kind, field(form, 'name').trim(), body);
  };
  return (
    <form class="create" onSubmit={submit} aria-label={editing ? `Edit ${editing.name}` : 'Add a provider or model'}>
      <label>
        Kind
        {/* `selected`, not defaultValue: Preact sets no default on a select. */}
        <select name="kind" disabled={Boolean(editing)}>
          <option value="providers">provider</option>
          <option value="models" selected={editing?.kind === 'models'}>
            model
          </option>
        </select>
      </label>
      <label>
        Entry name <input name="name" required defaultValue={editing?.name} readOnly={Boolean(editing)} />
      </label>
      <label class="wide">
        Entry (JSON) <textarea name="entry" required rows={4} defaultValue={editing?.entry} placeholder='{"type": "openai", "apiKey": "env:OPENAI_API_KEY"}' />
      </label>
      <ErrorLine error={invalid} />
      <button type="submit">{editing ? 'Save' : 'Add'}</button>
      {editing && (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      )}
    </form>
  );
}
