import { useEffect, useState } from 'preact/hooks';

/** What the console's pages share: reading form fields, loading a list and reloading it after each change, and two-click deletes. */

export const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
/** An optional whole number from a form field: empty is no limit. */
export const limit = (text: string) => (text.trim() === '' ? null : Number(text));
export const field = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement).value;

/**
 * Loads with `load` at once; `run(action)` does a change, then loads again, so
 * the page shows the server's state after every change. Errors go to `error`.
 */
export function useLoaded<T>(load: () => Promise<T>, initial: T) {
  const [data, setData] = useState<T>(initial);
  const [error, setError] = useState('');
  const run = async (action?: () => Promise<unknown>) => {
    setError('');
    try {
      if (action) await action();
      setData(await load());
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => void run(), []);
  return { data, error, run };
}

/**
 * Polls while `active`: `begin()` makes a poll (with whatever it keeps from one poll to the next), which runs at once
 * and again `ms` after each run ends, until the page closes or `deps` change. A run is told whether it was stopped
 * meanwhile, so a late answer is not shown. Returns the last run's error ('' once one succeeds).
 */
export function usePolling(begin: () => (stopped: () => boolean) => Promise<void>, ms: number, deps: unknown[], active = true): string {
  const [error, setError] = useState('');
  useEffect(() => {
    if (!active) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const read = begin();
    const poll = async () => {
      try {
        await read(() => stopped);
        if (stopped) return;
        setError('');
      } catch (err) {
        if (stopped) return;
        setError((err as Error).message);
      }
      timer = setTimeout(poll, ms);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, active]);
  return error;
}

export function ErrorLine({ error }: { error: string }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : null;
}

/** A destructive action in two clicks, the second naming what it acts on. */
export function ConfirmButton({ label, what, onConfirm }: { label: string; what: string; onConfirm: () => Promise<void> }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <>
      <button type="button" class="danger" onClick={() => void onConfirm().finally(() => setAsking(false))}>
        {label} {what} now
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </>
  );
}
