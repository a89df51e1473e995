import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, can, onSignedOut, type Caller } from './api.js';
import { KeysPage } from './keys.js';
import { SignIn } from './sign-in.js';
import './style.css';

/** undefined while asking who is signed in; null when no one is. */
type Session = Caller | null | undefined;

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
  const signOut = async () => {
    await api('DELETE', '/admin/session').catch(() => undefined);
    onSignedOut();
  };
  const scope = caller.team ? ` · team ${caller.team}` : caller.customer ? ` · customer ${caller.customer}` : '';
  return (
    <>
      <header>
        <strong>AI gateway</strong>
        <nav aria-label="Console">
          <a href="#keys" aria-current="page">
            Keys
          </a>
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
        {can(caller, 'read') ? (
          <KeysPage canWrite={can(caller, 'write')} />
        ) : (
          <p role="status">The {caller.role} role cannot read keys. The console's audit pages are not built yet: use the admin API's /admin/audit routes.</p>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
