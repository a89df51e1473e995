import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ConfirmButton, ErrorLine, field, list, useLoaded } from './forms.js';
import { When } from './records.js';

/** A policy or attachment added through the admin API, as GET /admin/guardrails/policies, …/attachments and their storage twins list them. */
interface Entry<T> {
  name: string;
  entry: T;
  updated_at: string;
}

interface GuardrailPolicy {
  description?: string;
  rules: { name: string; action: string; direction?: string; detectors?: string[]; external?: string }[];
}

/** As stored: a data class left out is kept, and redact uses personal_data and secrets unless it names detectors. */
type StoragePolicy = { description?: string; detectors?: string[] } & Partial<Record<(typeof DATA_CLASSES)[number], string>>;

const DATA_CLASSES = ['prompt', 'completion', 'toolArguments', 'metadata'] as const;

/** What a page section needs to know of one kind of policy: guardrail policies, or storage policies (guardrails.storage). */
interface PolicyKind<P> {
  /** "Guardrail" or "Storage": the section's tables are "<title> policies" and "<title> attachments". */
  title: string;
  intro: string;
  /** Where its routes are: <path>/policies/{name}, <path>/attachments/{scope}. */
  path: string;
  /** Its key in the config file, named in the form's hint. */
  configKey: string;
  /** The heading of what describe() gives, and one line per rule or data class. */
  column: string;
  describe: (policy: P) => string[];
  placeholder: string;
}

const GUARDRAIL: PolicyKind<GuardrailPolicy> = {
  title: 'Guardrail',
  intro: 'What requests and answers may carry: each rule blocks, redacts or flags what its detectors find.',
  path: '/admin/guardrails',
  configKey: 'guardrails.policies',
  column: 'Rules',
  describe: (policy) =>
    policy.rules.map((r) => `${r.name}: ${r.action} ${r.external ? `external.${r.external}` : (r.detectors ?? []).join(', ')} (${r.direction ?? 'both'})`),
  placeholder: '{"rules": [{"name": "cards", "detectors": ["payment_card"], "action": "block"}]}',
};

const STORAGE: PolicyKind<StoragePolicy> = {
  title: 'Storage',
  intro: 'What the gateway’s records (audit rows, usage rows, SIEM output) keep of each data class: keep, redact, hash (with the config file’s key) or drop.',
  path: '/admin/guardrails/storage',
  configKey: 'guardrails.storage.policies',
  column: 'Keeps',
  describe: (policy) => [
    ...DATA_CLASSES.map((c) => `${c}: ${policy[c] ?? 'keep'}`),
    ...(DATA_CLASSES.some((c) => policy[c] === 'redact') ? [`redacts ${(policy.detectors ?? ['personal_data', 'secrets']).join(', ')}`] : []),
  ],
  placeholder: '{"toolArguments": "redact", "metadata": "hash"}',
};

const SCOPES = { global: 'everyone', customer: 'customer', team: 'team', key: 'key' } as const;

/** "team:team_support" as people read it. */
const scopeLabel = (name: string) => (name === 'global' ? 'everyone' : name.replace(':', ' '));

interface Loaded<P> {
  policies: Entry<P>[];
  attachments: Entry<string[]>[];
}

const listed = async <P,>(kind: PolicyKind<P>): Promise<Loaded<P>> => {
  const [policies, attachments] = await Promise.all([
    api<{ data: Entry<P>[] }>('GET', `${kind.path}/policies`),
    api<{ data: Entry<string[]>[] }>('GET', `${kind.path}/attachments`),
  ]);
  return { policies: policies.data, attachments: attachments.data };
};

/**
 * The guardrail and storage policies and attachments added through the admin API (docs/guardrails.md, "Through the
 * admin API"): they add to what the config file defines and attaches, and apply without a restart. A role that may
 * manage routing adds, replaces and removes them; the server checks every change with the config file's first.
 */
export function GuardrailsPage({ canManage }: { canManage: boolean }) {
  const { data, error, run } = useLoaded(async () => ({ guardrail: await listed(GUARDRAIL), storage: await listed(STORAGE) }), {
    guardrail: { policies: [], attachments: [] } as Loaded<GuardrailPolicy>,
    storage: { policies: [], attachments: [] } as Loaded<StoragePolicy>,
  });
  return (
    <section aria-labelledby="guardrails-title">
      <h1 id="guardrails-title">Guardrails</h1>
      <p>Policies and attachments added here apply with those of the config file, which they cannot replace or take away.</p>
      <ErrorLine error={error} />
      <PolicySection kind={GUARDRAIL} loaded={data.guardrail} canManage={canManage} run={run} />
      <PolicySection kind={STORAGE} loaded={data.storage} canManage={canManage} run={run} />
    </section>
  );
}

/** One kind's policies and attachments: tables, and for a role that may manage them, the forms. */
function PolicySection<P>({
  kind,
  loaded,
  canManage,
  run,
}: {
  kind: PolicyKind<P>;
  loaded: Loaded<P>;
  canManage: boolean;
  run: (action?: () => Promise<unknown>) => Promise<void>;
}) {
  const [editing, setEditing] = useState<{ name: string; entry: string } | undefined>();
  // Counts saves, so a form starts empty again after each one (and keeps what was typed when the server refuses it).
  const [saves, setSaves] = useState(0);
  const saved = (change: () => Promise<unknown>) =>
    run(async () => {
      await change();
      setEditing(undefined);
      setSaves((n) => n + 1);
    });
  const id = kind.title.toLowerCase();
  const what = `${id} policy`;

  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{kind.title} policies</h2>
      <p>{kind.intro}</p>
      <div class="table">
        <table aria-label={`${kind.title} policies`}>
          <thead>
            <tr>
              <th>Name</th>
              <th>{kind.column}</th>
              <th>Changed</th>
              {canManage && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {loaded.policies.map((p) => (
              <tr key={p.name}>
                <td>{p.name}</td>
                <td>{kind.describe(p.entry).join('; ')}</td>
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
                      onConfirm={() => run(() => api('DELETE', `${kind.path}/policies/${encodeURIComponent(p.name)}`))}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {loaded.policies.length === 0 && <p class="empty">None added through the admin API.</p>}
      </div>
      {canManage && (
        <PolicyForm
          key={editing ? `edit-${editing.name}` : `new-${saves}`}
          what={what}
          configKey={kind.configKey}
          placeholder={kind.placeholder}
          editing={editing}
          onSave={(name, policy) => saved(() => api('PUT', `${kind.path}/policies/${encodeURIComponent(name)}`, policy))}
          onCancel={() => setEditing(undefined)}
        />
      )}
      <h3>Attached to</h3>
      <div class="table">
        <table aria-label={`${kind.title} attachments`}>
          <thead>
            <tr>
              <th>Scope</th>
              <th>Policies</th>
              <th>Changed</th>
              {canManage && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {loaded.attachments.map((a) => (
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
                      onConfirm={() => run(() => api('DELETE', `${kind.path}/attachments/${encodeURIComponent(a.name)}`))}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {loaded.attachments.length === 0 && <p class="empty">Nothing attached through the admin API.</p>}
      </div>
      {canManage && (
        <AttachForm
          key={`attach-${saves}`}
          label={`Attach ${id} policies`}
          onSave={(scope, names) => saved(() => api('PUT', `${kind.path}/attachments/${scope}`, names))}
        />
      )}
    </section>
  );
}

/** Adds or replaces a policy, as JSON in the shape of its config key. */
function PolicyForm({
  what,
  configKey,
  placeholder,
  editing,
  onSave,
  onCancel,
}: {
  what: string;
  configKey: string;
  placeholder: string;
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
      setInvalid(`The policy is not JSON: an object as in ${configKey}.`);
      return;
    }
    setInvalid('');
    void onSave(field(form, 'name').trim(), policy);
  };
  return (
    <form class="create" onSubmit={submit} aria-label={editing ? `Edit ${editing.name}` : `Add a ${what}`}>
      <label>
        Policy name <input name="name" required pattern="[a-z][a-z0-9_\-]*" defaultValue={editing?.name} readOnly={Boolean(editing)} />
      </label>
      <label class="wide">
        Policy (JSON)
        <textarea name="policy" required rows={4} defaultValue={editing?.entry} placeholder={placeholder} />
      </label>
      <ErrorLine error={invalid} />
      <button type="submit">{editing ? 'Save' : `Add ${what}`}</button>
      {editing && (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      )}
    </form>
  );
}

/** Attaches policies (names, comma-separated) to everyone, a customer, a team or a key, replacing what the admin API attached there. */
function AttachForm({ label, onSave }: { label: string; onSave: (scope: string, names: string[]) => Promise<void> }) {
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const kind = field(form, 'kind');
    const scope = kind === 'global' ? 'global' : `${kind}:${field(form, 'id').trim()}`;
    void onSave(encodeURIComponent(scope), list(field(form, 'policies')));
  };
  return (
    <form class="create" onSubmit={submit} aria-label={label}>
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
