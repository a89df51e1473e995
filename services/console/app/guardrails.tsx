import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ConfirmButton, ErrorLine, field, list, useLoaded } from './forms.js';
import { When } from './records.js';

/** A guardrail policy or attachment added through the admin API, as GET /admin/guardrails/policies and …/attachments list it. */
interface Entry<T> {
  name: string;
  entry: T;
  updated_at: string;
}

interface Policy {
  description?: string;
  rules: { name: string; action: string; direction?: string; detectors?: string[]; external?: string }[];
}

/** One line per rule: what it does, to what, in which direction. */
const rulesOf = (policy: Policy) =>
  policy.rules.map((r) => `${r.name}: ${r.action} ${r.external ? `external.${r.external}` : (r.detectors ?? []).join(', ')} (${r.direction ?? 'both'})`);

const SCOPES = { global: 'everyone', customer: 'customer', team: 'team', key: 'key' } as const;

/** "team:team_support" as people read it. */
const scopeLabel = (name: string) => (name === 'global' ? 'everyone' : name.replace(':', ' '));

/**
 * The guardrail policies and attachments added through the admin API (docs/guardrails.md, "Through the admin API"):
 * they add to what the config file defines and attaches, and apply without a restart. A role that may manage routing
 * adds, replaces and removes them; the server checks every change with the config file's guardrails first.
 */
export function GuardrailsPage({ canManage }: { canManage: boolean }) {
  const { data, error, run } = useLoaded(
    async () => {
      const [policies, attachments] = await Promise.all([
        api<{ data: Entry<Policy>[] }>('GET', '/admin/guardrails/policies'),
        api<{ data: Entry<string[]>[] }>('GET', '/admin/guardrails/attachments'),
      ]);
      return { policies: policies.data, attachments: attachments.data };
    },
    { policies: [] as Entry<Policy>[], attachments: [] as Entry<string[]>[] },
  );
  const [editing, setEditing] = useState<{ name: string; entry: string } | undefined>();
  // Counts saves, so a form starts empty again after each one (and keeps what was typed when the server refuses it).
  const [saves, setSaves] = useState(0);
  const saved = (change: () => Promise<unknown>) =>
    run(async () => {
      await change();
      setEditing(undefined);
      setSaves((n) => n + 1);
    });

  return (
    <section aria-labelledby="guardrails-title">
      <h1 id="guardrails-title">Guardrails</h1>
      <p>Policies and attachments added here apply with those of the config file, which they cannot replace or take away.</p>
      <ErrorLine error={error} />
      <section aria-labelledby="policies-title">
        <h2 id="policies-title">Policies</h2>
        <div class="table">
          <table aria-label="Guardrail policies">
            <thead>
              <tr>
                <th>Name</th>
                <th>Rules</th>
                <th>Changed</th>
                {canManage && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {data.policies.map((p) => (
                <tr key={p.name}>
                  <td>{p.name}</td>
                  <td>{rulesOf(p.entry).join('; ')}</td>
                  <td>
                    <When at={p.updated_at} />
                  </td>
                  {canManage && (
                    <td class="actions">
                      <button type="button" onClick={() => setEditing({ name: p.name, entry: JSON.stringify(p.entry, null, 2) })}>
                        Edit
                      </button>
                      <ConfirmButton
                        label="Remove"
                        what={p.name}
                        onConfirm={() => run(() => api('DELETE', `/admin/guardrails/policies/${encodeURIComponent(p.name)}`))}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
          {data.policies.length === 0 && <p class="empty">None added through the admin API.</p>}
        </div>
        {canManage && (
          <PolicyForm
            key={editing ? `edit-${editing.name}` : `new-${saves}`}
            editing={editing}
            onSave={(name, policy) => saved(() => api('PUT', `/admin/guardrails/policies/${encodeURIComponent(name)}`, policy))}
            onCancel={() => setEditing(undefined)}
          />
        )}
      </section>
      <section aria-labelledby="attachments-title">
        <h2 id="attachments-title">Attached to</h2>
        <div class="table">
          <table aria-label="Guardrail attachments">
            <thead>
              <tr>
                <th>Scope</th>
                <th>Policies</th>
                <th>Changed</th>
                {canManage && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {data.attachments.map((a) => (
                <tr key={a.name}>
                  <td>{scopeLabel(a.name)}</td>
                  <td>{a.entry.join(', ')}</td>
                  <td>
                    <When at={a.updated_at} />
                  </td>
                  {canManage && (
                    <td class="actions">
                      <ConfirmButton
                        label="Detach"
                        what={scopeLabel(a.name)}
                        onConfirm={() => run(() => api('DELETE', `/admin/guardrails/attachments/${encodeURIComponent(a.name)}`))}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
          {data.attachments.length === 0 && <p class="empty">Nothing attached through the admin API.</p>}
        </div>
        {canManage && (
          <AttachForm key={`attach-${saves}`} onSave={(scope, names) => saved(() => api('PUT', `/admin/guardrails/attachments/${scope}`, names))} />
        )}
      </section>
    </section>
  );
}

/** Adds or replaces a policy: its rules as JSON, as in guardrails.policies. */
function PolicyForm({
  editing,
  onSave,
  onCancel,
}: {
  editing?: { name: string; entry: string };
  onSave: (name: string, policy: unknown) => Promise<void>;
  onCancel: () => void;
}) {
  const [invalid, setInvalid] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    let policy: unknown;
    try {
      policy = JSON.parse(field(form, 'policy'));
    } catch {
      setInvalid('The policy is not JSON: an object with its rules, as in guardrails.policies.');
      return;
    }
    setInvalid('');
    void onSave(field(form, 'name').trim(), policy);
  };
  return (
    <form class="create" onSubmit={submit} aria-label={editing ? `Edit ${editing.name}` : 'Add a policy'}>
      <label>
        Policy name <input name="name" required pattern="[a-z][a-z0-9_\-]*" defaultValue={editing?.name} readOnly={Boolean(editing)} />
      </label>
      <label class="wide">
        Policy (JSON)
        <textarea
          name="policy"
          required
          rows={4}
          defaultValue={editing?.entry}
          placeholder='{"rules": [{"name": "cards", "detectors": ["payment_card"], "action": "block"}]}'
        />
      </label>
      <ErrorLine error={invalid} />
      <button type="submit">{editing ? 'Save' : 'Add policy'}</button>
      {editing && (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      )}
    </form>
  );
}

/** Attaches policies (names, comma-separated) to everyone, a customer, a team or a key, replacing what the admin API attached there. */
function AttachForm({ onSave }: { onSave: (scope: string, names: string[]) => Promise<void> }) {
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const kind = field(form, 'kind');
    const scope = kind === 'global' ? 'global' : `${kind}:${field(form, 'id').trim()}`;
    void onSave(encodeURIComponent(scope), list(field(form, 'policies')));
  };
  return (
    <form class="create" onSubmit={submit} aria-label="Attach policies">
      <label>
        Attach to
        <select name="kind">
          {Object.entries(SCOPES).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Id (customer, team or key) <input name="id" />
      </label>
      <label class="wide">
        Policies (comma-separated) <input name="policies" required />
      </label>
      <button type="submit">Attach</button>
    </form>
  );
}
