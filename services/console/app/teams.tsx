import { useState } from 'preact/hooks';
import { api, type Customer, type Team } from './api.js';
import { ConfirmButton, ErrorLine, field, limit, useLoaded } from './forms.js';

interface Rights {
  canWrite: boolean;
  /** Creating and deleting customers is the owner's (manage_customers); renaming one is any writer's. */
  canManageCustomers: boolean;
}

const named = (id: string | null, customers: Customer[]) => (id ? (customers.find((c) => c.id === id)?.name ?? id) : '—');
/** The id field of a create form: left empty, the server makes one. */
const optionalId = (form: HTMLFormElement) => (field(form, 'id').trim() ? { id: field(form, 'id').trim() } : {});

/** Customers and their teams: who the keys and budgets belong to. */
export function TeamsPage(rights: Rights) {
  const { data, error, run } = useLoaded(
    async () => {
      const [customers, teams] = await Promise.all([api<{ data: Customer[] }>('GET', '/admin/customers'), api<{ data: Team[] }>('GET', '/admin/teams')]);
      return { customers: customers.data, teams: teams.data };
    },
    { customers: [] as Customer[], teams: [] as Team[] },
  );
  return (
    <>
      <ErrorLine error={error} />
      <Teams {...rights} teams={data.teams} customers={data.customers} run={run} />
      <Customers {...rights} teams={data.teams} customers={data.customers} run={run} />
    </>
  );
}

type Lists = Rights & { teams: Team[]; customers: Customer[]; run: (action: () => Promise<unknown>) => Promise<void> };

function Teams({ canWrite, teams, customers, run }: Lists) {
  const [editing, setEditing] = useState<string | undefined>();
  const create = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const customer = field(form, 'customer');
    await run(() =>
      api('POST', '/admin/teams', {
        ...optionalId(form),
        name: field(form, 'name').trim(),
        ...(customer ? { customer } : {}),
        rpm_limit: limit(field(form, 'rpm')),
        tpm_limit: limit(field(form, 'tpm')),
      }),
    );
    form.reset();
  };
  return (
    <section aria-labelledby="teams-title">
      <h1 id="teams-title">Teams</h1>
      {canWrite && (
        <form class="create" onSubmit={create} aria-label="Create a team">
          <label>
            Team name <input name="name" required maxLength={200} />
          </label>
          <label>
            Team id <input name="id" placeholder="generated" pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}" />
          </label>
          <label>
            Customer
            <select name="customer">
              <option value="">none</option>
              {customers.map((c) => (
                <option value={c.id}>{c.name}</option>
              ))}
            </select>
          </label>
          <LimitFields />
          <button type="submit">Create team</button>
        </form>
      )}
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>ID</th>
              <th>Customer</th>
              <th>Limits</th>
              {canWrite && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {teams.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>
                  <code>{t.id}</code>
                </td>
                <td>{named(t.customer, customers)}</td>
                <td>
                  {t.rpm_limit ?? '∞'} rpm · {t.tpm_limit ?? '∞'} tpm
                </td>
                {canWrite && (
                  <td class="actions">
                    {editing === t.id ? (
                      <EditTeam
                        team={t}
                        onSave={(patch) => run(() => api('PATCH', `/admin/teams/${t.id}`, patch).then(() => setEditing(undefined)))}
                        onCancel={() => setEditing(undefined)}
                      />
                    ) : (
                      <>
                        <button type="button" onClick={() => setEditing(t.id)}>
                          Edit
                        </button>
                        <ConfirmButton label="Delete" what={t.name} onConfirm={() => run(() => api('DELETE', `/admin/teams/${t.id}`))} />
                      </>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {teams.length === 0 && <p class="empty">No teams yet.</p>}
      </div>
    </section>
  );
}

function LimitFields({ of }: { of?: Team }) {
  return (
    <>
      <label>
        RPM <input name="rpm" type="number" min={0} placeholder="no limit" defaultValue={of?.rpm_limit?.toString() ?? ''} />
      </label>
      <label>
        TPM <input name="tpm" type="number" min={0} placeholder="no limit" defaultValue={of?.tpm_limit?.toString() ?? ''} />
      </label>
    </>
  );
}

function EditTeam({ team, onSave, onCancel }: { team: Team; onSave: (patch: Record<string, unknown>) => Promise<void>; onCancel: () => void }) {
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    void onSave({ name: field(form, 'name').trim(), rpm_limit: limit(field(form, 'rpm')), tpm_limit: limit(field(form, 'tpm')) });
  };
  return (
    <form class="edit" onSubmit={submit} aria-label={`Edit ${team.name}`}>
      <label>
        Name <input name="name" required defaultValue={team.name} />
      </label>
      <LimitFields of={team} />
      <button type="submit">Save</button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

function Customers({ canWrite, canManageCustomers, teams, customers, run }: Lists) {
  const [renaming, setRenaming] = useState<string | undefined>();
  const create = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    await run(() => api('POST', '/admin/customers', { ...optionalId(form), name: field(form, 'name').trim() }));
    form.reset();
  };
  const rename = (c: Customer) => (event: Event) => {
    event.preventDefault();
    const name = field(event.currentTarget as HTMLFormElement, 'name').trim();
    void run(() => api('PATCH', `/admin/customers/${c.id}`, { name }).then(() => setRenaming(undefined)));
  };
  return (
    <section aria-labelledby="customers-title">
      <h1 id="customers-title">Customers</h1>
      {canManageCustomers && (
        <form class="create" onSubmit={create} aria-label="Create a customer">
          <label>
            Customer name <input name="name" required maxLength={200} />
          </label>
          <label>
            Customer id <input name="id" placeholder="generated" pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}" />
          </label>
          <button type="submit">Create customer</button>
        </form>
      )}
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>ID</th>
              <th>Teams</th>
              {canWrite && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {customers.map((c) => (
              <tr key={c.id}>
                <td>{c.name}</td>
                <td>
                  <code>{c.id}</code>
                </td>
                <td>{teams.filter((t) => t.customer === c.id).length}</td>
                {canWrite && (
                  <td class="actions">
                    {renaming === c.id ? (
                      <form class="edit" onSubmit={rename(c)} aria-label={`Rename ${c.name}`}>
                        <label>
                          Name <input name="name" required defaultValue={c.name} />
                        </label>
                        <button type="submit">Save</button>
                        <button type="button" onClick={() => setRenaming(undefined)}>
                          Cancel
                        </button>
                      </form>
                    ) : (
                      <>
                        <button type="button" onClick={() => setRenaming(c.id)}>
                          Rename
                        </button>
                        {canManageCustomers && (
                          <ConfirmButton label="Delete" what={c.name} onConfirm={() => run(() => api('DELETE', `/admin/customers/${c.id}`))} />
                        )}
                      </>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {customers.length === 0 && <p class="empty">No customers yet.</p>}
      </div>
    </section>
  );
}
