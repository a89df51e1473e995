import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Caller } from './api.js';

/** Signs in with an admin token: the server answers with a session cookie the page cannot read, and the token is forgotten. */
export function SignIn({ onSignedIn }: { onSignedIn: (caller: Caller) => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // The field takes the keyboard at once: the autofocus attribute counts only when the page loads, and this form comes later.
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => field.current?.focus(), []);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const token = (form.elements.namedItem('token') as HTMLInputElement).value.trim();
    setBusy(true);
    setError('');
    try {
      const caller = await api<Caller>('POST', '/admin/session', { token });
      form.reset();
      onSignedIn(caller);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>AI gateway console</h1>
      <form onSubmit={submit}>
        <label for="token">Admin token</label>
        <input ref={field} id="token" name="token" type="password" autocomplete="off" required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
      <p class="hint">
        A fresh gateway writes its owner token to <code>data/admin-token</code> (unless <code>governance.adminToken</code> is set). The token is sent once to
        open a session; the page never keeps it.
      </p>
    </main>
  );
}
