import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, can, onSignedOut, type Caller, type Permission } from './api.js';
import { AuditPage } from './audit.js';
import { BudgetsPage } from './budgets.js';
import { CachePage } from './cache.js';
import { GuardrailsPage } from './guardrails.js';
import { KeysPage } from './keys.js';
import { McpPage } from './mcp.js';
import { ProvidersPage } from './providers.js';
import { RequestsPage } from './requests.js';
import { SignIn } from './sign-in.js';
import { SpendPage } from './spend.js';
import './style.css';
import { TeamsPage } from './teams.js';

/** undefined while asking who is signed in; null when no one is. */
type Session = Caller | null | undefined;

/** Each page with the permission it needs; a role without it is not offered the page, and the server refuses its calls anyway. */
const PAGES = {
  keys: { title: 'Keys', needs: 'read' },
  teams: { title: 'Teams', needs: 'read' },
  budgets: { title: 'Budgets', needs: 'read' },
  spend: { title: 'Spend', needs: 'read' },
  requests: { title: 'Live requests', needs: 'read' },
  providers: { title: 'Providers', needs: 'read' },
  mcp: { title: 'MCP servers', needs: 'read' },
  cache: { title: 'Cache', needs: 'read' },
  guardrails: { title: 'Guardrails', needs: 'read' },
  audit: { title: 'Audit', needs: 'audit' },
} satisfies Record<string, { title: string; needs: Permission }>;
type PageName = keyof typeof PAGES;

/** The pages the caller may open, in the navigation's order. */
const pagesOf = (caller: Caller) => (Object.keys(PAGES) as PageName[]).filter((name) => can(caller, PAGES[name].needs));

/** The page named by the URL's fragment, so each page has an address, and Back and reload keep it; else the first the caller may open. */
const pageOf = (hash: string, allowed: PageName[]): PageName | undefined =>
  allowed.includes(hash.slice(1) as PageName) ? (hash.slice(1) as PageName) : allowed[0];

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
  const allowed = pagesOf(caller);
  const [page, setPage] = useState(pageOf(location.hash, allowed));
  useEffect(() => {
    const follow = () => setPage(pageOf(location.hash, allowed));
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
          {allowed.map((name) => (
            <a key={name} href={`#${name}`} aria-current={page === name ? 'page' : undefined}>
              {PAGES[name].title}
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
        {page === undefined ? (
          <p role="status">The {caller.role} role may open none of the console's pages.</p>
        ) : page === 'audit' ? (
          <AuditPage />
        ) : page === 'providers' ? (
          <ProvidersPage canManage={can(caller, 'manage_routing')} />
        ) : page === 'mcp' ? (
          <McpPage canManage={can(caller, 'manage_routing')} />
        ) : page === 'cache' ? (
          <CachePage canWrite={canWrite} />
        ) : page === 'guardrails' ? (
          <GuardrailsPage canManage={can(caller, 'manage_routing')} />
        ) : page === 'requests' ? (
          <RequestsPage canAudit={can(caller, 'audit')} />
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
