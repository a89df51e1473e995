import { useEffect, useState } from 'preact/hooks';
import { api, type SpendRow } from './api.js';
import { ErrorLine } from './forms.js';
import { usd } from './money.js';

const GROUPS = ['team', 'key', 'customer', 'model', 'provider'] as const;
type Group = (typeof GROUPS)[number];

const day = (date: Date) => date.toISOString().slice(0, 10);
const DAY_MS = 86_400_000;
/** Height of one bar and its label in the chart, in pixels. */
const ROW = 40;

/** Spend summed by team, key, customer, model or provider over whole UTC days, as /admin/spend sums it: a table, bars and CSV. */
export function SpendPage() {
  const [group, setGroup] = useState<Group>('team');
  // The last 30 days, today included: `to` is exclusive, so it is tomorrow.
  const [from, setFrom] = useState(day(new Date(Date.now() - 29 * DAY_MS)));
  const [to, setTo] = useState(day(new Date()));
  const [report, setReport] = useState<{ data: SpendRow[]; total: SpendRow } | undefined>();
  const [error, setError] = useState('');

  const query = new URLSearchParams({ group_by: group, from: `${from}T00:00:00Z`, to: new Date(Date.parse(`${to}T00:00:00Z`) + DAY_MS).toISOString() });
  const load = () => {
    setError('');
    api<{ data: SpendRow[]; total: SpendRow }>('GET', `/admin/spend?${query}`).then(setReport, (err: Error) => setError(err.message));
  };
  useEffect(load, [group, from, to]);

  const rows = [...(report?.data ?? [])].sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd));
  const top = Math.max(...rows.map((r) => Number(r.cost_usd)), 0);
  const name = (row: SpendRow) => String(row[group]) || `no ${group}`;

  return (
    <section aria-labelledby="spend-title">
      <h1 id="spend-title">Spend</h1>
      <ErrorLine error={error} />
      <form
        class="create"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
        aria-label="Spend range"
      >
        <label>
          By
          <select value={group} onChange={(e) => setGroup(e.currentTarget.value as Group)}>
            {GROUPS.map((g) => (
              <option value={g}>{g}</option>
            ))}
          </select>
        </label>
        <label>
          From <input type="date" value={from} max={to} required onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To <input type="date" value={to} min={from} required onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button type="submit">Refresh</button>
        <a href={`/admin/spend?${query}&format=csv`} download>
          This table as CSV
        </a>
        <a href={`/admin/usage/export?${new URLSearchParams({ from: query.get('from')!, to: query.get('to')!, format: 'csv' })}`} download>
          Every request in the range as CSV
        </a>
      </form>
      {rows.length > 0 && (
        <div class="chart">
          <svg role="img" aria-label={`Spend by ${group}`} width="100%" height={rows.length * ROW} xmlns="http://www.w3.org/2000/svg">
            {rows.map((r, i) => (
              <g key={name(r)}>
                <text x="0" y={i * ROW + 14}>
                  {name(r)} {usd(r.cost_usd)}
                </text>
                {/* A width in percent, not a style: the page's CSP allows no inline style. */}
                <rect x="0" y={i * ROW + 20} height="12" width={`${top ? (100 * Number(r.cost_usd)) / top : 0}%`} class="bar" />
              </g>
            ))}
          </svg>
        </div>
      )}
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>{group}</th>
              <th>Requests</th>
              <th>Prompt tokens</th>
              <th>Completion tokens</th>
              <th>Cost</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={name(r)}>
                <td>{name(r)}</td>
                <td>{r.requests}</td>
                <td>{r.prompt_tokens}</td>
                <td>{r.completion_tokens}</td>
                <td>{usd(r.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
          {report && (
            <tfoot>
              <tr>
                <th>Total</th>
                <th>{report.total.requests}</th>
                <th>{report.total.prompt_tokens}</th>
                <th>{report.total.completion_tokens}</th>
                <th>{usd(report.total.cost_usd)}</th>
              </tr>
            </tfoot>
          )}
        </table>
        {report && rows.length === 0 && <p class="empty">No spend in this range.</p>}
      </div>
    </section>
  );
}
