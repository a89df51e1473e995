import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Caller } from './api.js';

/** What the admin server's OpenID Connect callback says went wrong (`?sign_in_error=`), in the reader's words. */
const REFUSALS: Record<string, string> = {
  state: 'The sign-in with SSO could not be checked: it expired, or was started in another browser or tab. Try again.',
  denied: 'The identity provider did not sign you in.',
  token: 'The identity provider’s answer could not be verified, so you are not signed in. An operator finds why in the gateway’s log.',
  role: 'You are signed in at the identity provider, but none of your groups has a role in this gateway. Ask its owner to map one.',
  unavailable: 'The identity provider cannot be reached. Try again in a moment.',
};

/** The refusal the callback sent the browser back with, if any, taken off the address so a reload does not show it again. */
function refusalInAddress(): string {
  const params = new URLSearchParams(location.search);
  const code = params.get('sign_in_error');
  if (code === null) return '';
  params.delete('sign_in_error');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  return REFUSALS[code] ?? 'The sign-in with SSO was refused.';
}

/**
 * Signs in with an admin token (the server answers with a session cookie the page cannot read, and the token is
 * forgotten), or, when the gateway has an identity provider for the console, through it in the browser.
 */
export function SignIn({ onSignedIn }: { onSignedIn: (caller: Caller) => void }) {
  const [error, setError] = useState(refusalInAddress);
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState(false);
  // The field takes the keyboard at once: the autofocus attribute counts only when the page loads, and this form comes later.
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    field.current?.focus();
    api<{ oidc: boolean }>('GET', '/admin/session/options').then(
      (options) => setSso(options.oidc),
      () => setSso(false),
    );
  }, []);
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
      {sso && (
        // A link, not a fetch: the browser itself goes to the identity provider and comes back signed in.
        <a class="sso" href="/admin/session/oidc/start">
          Sign in with SSO
        </a>
      )}
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
