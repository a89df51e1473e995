import { useState } from 'preact/hooks';
import { api, type Budget, type BudgetWindow, type Customer, type Key, type Scope, type Team } from './api.js';
import { ConfirmButton, ErrorLine, field, useLoaded } from './forms.js';
import { usd } from './money.js';

const PERIODS = ['minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];

/** What a budget can be set on, by scope: id and name. */
type Owners = Record<Scope, { id: string; name: string }[]>;

/** Budgets with what was spent in their current window and a bar of what is left; create and delete for those that may change them. */
export function BudgetsPage({ canWrite }: { canWrite: boolean }) {
  const { data, error, run } = useLoaded(
    async () => {
      const [budgets, keys, teams, customers] = await Promise.all([
        api<{ data: Budget[] }>('GET', '/admin/budgets'),
        api<{ data: Key[] }>('GET', '/admin/keys'),
        api<{ data: Team[] }>('GET', '/admin/teams'),
        api<{ data: Customer[] }>('GET', '/admin/customers'),
      ]);
      // The list holds no spend; each budget's own route sums its current window.
      const windows = await Promise.all(budgets.data.map((b) => api<BudgetWindow>('GET', `/admin/budgets/${b.id}`)));
      const owners: Owners = { team: teams.data, key: keys.data.filter((k) => !k.revoked_at), customer: customers.data };
      return { windows, owners };
    },
    { windows: [] as BudgetWindow[], owners: { team: [], key: [], customer: [] } as Owners },
  );
  const { windows, owners } = data;
  const [editing, setEditing] = useState<string | undefined>();
  const ownerName = (b: Budget) => owners[b.scope].find((o) => o.id === b.scope_id)?.name ?? b.scope_id;

  return (
    <section aria-labelledby="budgets-title">
      <h1 id="budgets-title">Budgets</h1>
      <ErrorLine error={error} />
      {canWrite && <CreateBudget owners={owners} onCreate={(body) => run(() => api('POST', '/admin/budgets', body))} />}
      <button type="button" class="refresh" onClick={() => void run()}>
        Refresh
      </button>
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>On</th>
              <th>Period</th>
              <th>Limit</th>
              <th>Spent this period</th>
              <th>Left</th>
              <th>Period ends</th>
              {canWrite && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {windows.map((b) => {
              const left = Math.max(0, b.limit_usd - b.window.used_usd);
              return (
                <tr key={b.id} data-budget-id={b.id}>
                  <td>
                    {b.scope} {ownerName(b)}
                  </td>
                  <td>{b.period}</td>
                  <td>{usd(b.limit_usd)}</td>
                  <td data-testid="spent">{usd(b.window.used_usd)}</td>
                  <td class="left">
                    <meter
                      min={0}
                      max={b.limit_usd}
                      value={left}
                      low={b.limit_usd * 0.2}
                      high={b.limit_usd * 0.5}
                      optimum={b.limit_usd}
                      aria-label={`Left of ${ownerName(b)}'s ${b.period} budget`}
                    />
                    <span>{usd(left)}</span>
                  </td>
                  <td>
                    <time dateTime={b.window.end}>{new Date(b.window.end).toLocaleString()}</time>
                  </td>
                  {canWrite && (
                    <td class="actions">
                      {editing === b.id ? (
                        <EditLimit
                          budget={b}
                          onSave={(limit_usd) =>
                            run(async () => {
                              await api('PATCH', `/admin/budgets/${b.id}`, { limit_usd });
                              setEditing(undefined);
                            })
                          }
                          onCancel={() => setEditing(undefined)}
                        />
                      ) : (
                        <button type="button" onClick={() => setEditing(b.id)}>
                          Edit limit
                        </button>
                      )}
                      <ConfirmButton
                        label="Delete"
                        what={`${ownerName(b)}'s ${b.period} budget`}
                        onConfirm={() => run(() => api('DELETE', `/admin/budgets/${b.id}`))}
                      />
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
        {windows.length === 0 && <p class="empty">No budgets yet.</p>}
      </div>
    </section>
  );
}

function CreateBudget({ owners, onCreate }: { owners: Owners; onCreate: (body: Record<string, unknown>) => Promise<void> }) {
  const [scope, setScope] = useState<Scope>('team');
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    await onCreate({ scope, scope_id: field(form, 'owner'), period: field(form, 'period'), limit_usd: Number(field(form, 'limit')) });
    // The scope, owner and period stay chosen for the next budget; only the amount is cleared.
    (form.elements.namedItem('limit') as HTMLInputElement).value = '';
  };
  return (
    <form class="create" onSubmit={submit} aria-label="Create a budget">
      <label>
        Scope
        <select name="scope" value={scope} onChange={(e) => setScope(e.currentTarget.value as Scope)}>
          <option value="team">team</option>
          <option value="key">key</option>
          <option value="customer">customer</option>
        </select>
      </label>
      <label>
        For
        <select name="owner" required>
          {owners[scope].map((o) => (
            <option value={o.id}>{o.name}</option>
          ))}
        </select>
      </label>
      <label>
        Period
        <select name="period">
          {PERIODS.map((p) => (
            <option value={p} selected={p === 'month'}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label>
        Limit (USD) <input name="limit" type="number" min={0} step="0.000001" required />
      </label>
      <button type="submit">Create budget</button>
    </form>
  );
}

function EditLimit({ budget, onSave, onCancel }: { budget: Budget; onSave: (limit: number) => Promise<void>; onCancel: () => void }) {
  const submit = (event: Event) => {
    event.preventDefault();
    void onSave(Number(field(event.currentTarget as HTMLFormElement, 'limit')));
  };
  return (
    <form class="edit" onSubmit={submit} aria-label={`Edit the limit of budget ${budget.id}`}>
      <label>
        New limit (USD) <input name="limit" type="number" min={0} step="0.000001" required defaultValue={String(budget.limit_usd)} />
      </label>
      <button type="submit">Save</button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}
