import { useState } from 'preact/hooks';
import { api, type Key } from './api.js';
import { FirstRequest } from './first-request.js';
import { ConfirmButton, ErrorLine, field, limit, list, useLoaded } from './forms.js';

type Created = Key & { key: string };

/** tool_mode's values (docs/mcp.md), as the edit form offers them. */
const TOOL_MODES = [
  ['off', 'off: the client sends its own tools'],
  ['inject', "inject: the key's MCP tools added"],
  ['agent', 'agent: the gateway runs the tool calls'],
  ['code', 'code: programs over the tools'],
] as const;

const status = (key: Key) => (key.revoked_at ? 'revoked' : key.expires_at && Date.parse(key.expires_at) <= Date.now() ? 'expired' : 'active');

/** Virtual keys: search and list for every role that reads them; create, edit and revoke for those that may change them. */
export function KeysPage({ canWrite }: { canWrite: boolean }) {
  const { data: keys, error, run } = useLoaded(async () => (await api<{ data: Key[] }>('GET', '/admin/keys')).data, []);
  const [query, setQuery] = useState('');
  const [created, setCreated] = useState<Created | undefined>();
  const [editing, setEditing] = useState<string | undefined>();

  const q = query.trim().toLowerCase();
  const shown = keys.filter((k) => !q || [k.name, k.id, k.team ?? '', k.customer ?? ''].some((s) => s.toLowerCase().includes(q)));

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">Keys</h1>
      <ErrorLine error={error} />
      {canWrite && <CreateKey onCreate={(body) => run(async () => setCreated(await api<Created>('POST', '/admin/keys', body)))} />}
      {created && (
        <>
          <NewKey created={created} onDone={() => setCreated(undefined)} />
          <FirstRequest key={created.id} apiKey={created.key} />
        </>
      )}
      <label class="search">
        Search keys <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} placeholder="name, id, team or customer" />
      </label>
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>ID</th>
              <th>Team</th>
              <th>Models</th>
              <th>Limits</th>
              <th>Status</th>
              {canWrite && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {shown.map((k) => (
              <tr key={k.id} data-key-id={k.id}>
                <td>{k.name}</td>
                <td>
                  <code>{k.id}</code>
                </td>
                <td>{k.team ?? (k.customer ? `customer ${k.customer}` : '—')}</td>
                <td>{k.allowed_models.join(', ') || 'none'}</td>
                <td>
                  {k.rpm_limit ?? '∞'} rpm · {k.tpm_limit ?? '∞'} tpm
                </td>
                <td class={`status ${status(k)}`}>{status(k)}</td>
                {canWrite && (
                  <td class="actions">
                    {editing === k.id ? (
                      <EditKey
                        keyEntry={k}
                        onSave={(patch) =>
                          run(async () => {
                            await api('PATCH', `/admin/keys/${k.id}`, patch);
                            setEditing(undefined);
                          })
                        }
                        onCancel={() => setEditing(undefined)}
                      />
                    ) : (
                      status(k) !== 'revoked' && (
                        <>
                          <button type="button" onClick={() => setEditing(k.id)}>
                            Edit
                          </button>
                          <ConfirmButton label="Revoke" what={k.name} onConfirm={() => run(() => api('POST', `/admin/keys/${k.id}/revoke`))} />
                        </>
                      )
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {shown.length === 0 && <p class="empty">{keys.length === 0 ? 'No keys yet.' : 'No key matches the search.'}</p>}
      </div>
    </section>
  );
}

function CreateKey({ onCreate }: { onCreate: (body: Record<string, unknown>) => Promise<void> }) {
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const team = field(form, 'team').trim();
    await onCreate({
      name: field(form, 'name').trim(),
      ...(team ? { team } : {}),
      allowed_models: list(field(form, 'models')),
      rpm_limit: limit(field(form, 'rpm')),
    });
    form.reset();
  };
  return (
    <form class="create" onSubmit={submit} aria-label="Create a key">
      <label>
        Name <input name="name" required maxLength={200} />
      </label>
      <label>
        Team <input name="team" placeholder="optional" />
      </label>
      <label>
        Allowed models <input name="models" defaultValue="*" placeholder="comma-separated globs" />
      </label>
      <label>
        Requests per minute <input name="rpm" type="number" min={0} placeholder="no limit" />
      </label>
      <button type="submit">Create key</button>
    </form>
  );
}

/** The new key's value, which the server never shows again. */
function NewKey({ created, onDone }: { created: Created; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async (event: Event) => {
    const input = (event.currentTarget as HTMLElement).parentElement!.querySelector('input')!;
    // The clipboard API needs a secure context (HTTPS or localhost); elsewhere the selected text is copied the old way.
    if (navigator.clipboard) await navigator.clipboard.writeText(created.key);
    else {
      input.select();
      document.execCommand('copy');
    }
    setCopied(true);
  };
  return (
    <div class="new-key" role="status">
      <p>
        Key <strong>{created.name}</strong> created. Copy it now: it is not shown again.
      </p>
      <input readOnly aria-label="New key" value={created.key} onFocus={(e) => e.currentTarget.select()} />
      <button type="button" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
      <button type="button" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function EditKey({ keyEntry, onSave, onCancel }: { keyEntry: Key; onSave: (patch: Record<string, unknown>) => Promise<void>; onCancel: () => void }) {
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    void onSave({
      allowed_models: list(field(form, 'models')),
      rpm_limit: limit(field(form, 'rpm')),
      tpm_limit: limit(field(form, 'tpm')),
      tool_mode: field(form, 'tool_mode'),
      // Empty: the gateway's configured default (null).
      code_limits: { time_ms: limit(field(form, 'time_ms')), max_tool_calls: limit(field(form, 'max_tool_calls')) },
    });
  };
  return (
    <form class="edit" onSubmit={submit} aria-label={`Edit ${keyEntry.name}`}>
      <label>
        Allowed models <input name="models" defaultValue={keyEntry.allowed_models.join(', ')} />
      </label>
      <label>
        RPM <input name="rpm" type="number" min={0} defaultValue={keyEntry.rpm_limit?.toString() ?? ''} />
      </label>
      <label>
        TPM <input name="tpm" type="number" min={0} defaultValue={keyEntry.tpm_limit?.toString() ?? ''} />
      </label>
      <label>
        Tool mode{' '}
        <select name="tool_mode">
          {TOOL_MODES.map(([mode, text]) => (
            // Preact sets a select's value from its options, not from defaultValue.
            <option key={mode} value={mode} selected={mode === keyEntry.tool_mode}>
              {text}
            </option>
          ))}
        </select>
      </label>
      <label>
        Program time (ms) <input name="time_ms" type="number" min={1} placeholder="default" defaultValue={keyEntry.code_limits.time_ms?.toString() ?? ''} />
      </label>
      <label>
        Tool calls per program{' '}
        <input name="max_tool_calls" type="number" min={1} placeholder="default" defaultValue={keyEntry.code_limits.max_tool_calls?.toString() ?? ''} />
      </label>
      <button type="submit">Save</button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}
