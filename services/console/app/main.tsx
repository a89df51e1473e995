import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, can, onSignedOut, type Caller } from './api.js';
import { BudgetsPage } from './budgets.js';
import { KeysPage } from './keys.js';
import { SignIn } from './sign-in.js';
import { SpendPage } from './spend.js';
import './style.css';
import { TeamsPage } from './teams.js';

/** undefined while asking who is signed in; null when no one is. */
type Session = Caller | null | undefined;

const PAGES = { keys: 'Keys', teams: 'Teams', budgets: 'Budgets', spend: 'Spend' } as const;
type PageName = keyof typeof PAGES;

/** The page named by the URL's fragment, so each page has an address, and Back and reload keep it. */
const pageOf = (hash: string): PageName => (hash.slice(1) in PAGES ? (hash.slice(1) as PageName) : 'keys');

function App() {
  const [caller, setCaller] = useState<Session>(undefined);
  useEffect(() => {
    onSignedOut(() => setCaller(null));
    api<Caller>('GET', '/admin/whoami').then(setCaller, () => setCaller(null));
  }, []);
  if (caller === undefined) return <p class="loading">Loading…</p>;
  if (caller === null) return <SignIn onSignedIn={setCaller} />;
  return <Shell caller={caller} onSignedOut={() => setCaller(null)} />;
}

function Shell({ caller, onSignedOut }: { caller: Caller; onSignedOut: () => void }) {
  const [page, setPage] = useState(pageOf(location.hash));
  useEffect(() => {
    const follow = () => setPage(pageOf(location.hash));
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  const signOut = async () => {
    await api('DELETE', '/admin/session').catch(() => undefined);
    onSignedOut();
  };
  const scope = caller.team ? ` · team ${caller.team}` : caller.customer ? ` · customer ${caller.customer}` : '';
  const canWrite = can(caller, 'write');
  return (
    <>
      <header>
        <strong>AI gateway</strong>
        <nav aria-label="Console">
          {Object.entries(PAGES).map(([name, title]) => (
            <a key={name} href={`#${name}`} aria-current={page === name ? 'page' : undefined}>
              {title}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {caller.name} ({caller.role}
          {scope})
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {!can(caller, 'read') ? (
          <p role="status">
            The {caller.role} role cannot read keys, teams, budgets or spend. The console's audit pages are not built yet: use the admin API's /admin/audit
            routes.
          </p>
        ) : page === 'teams' ? (
          <TeamsPage canWrite={canWrite} canManageCustomers={can(caller, 'manage_customers')} />
        ) : page === 'budgets' ? (
          <BudgetsPage canWrite={canWrite} />
        ) : page === 'spend' ? (
          <SpendPage />
        ) : (
          <KeysPage canWrite={canWrite} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
