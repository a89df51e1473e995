/**
 * A dependency loaded on first use, once, for code only some deployments run
 * (the MCP SDK, AWS request signing): imported at start, it would sit in every
 * gateway's memory, idle ones included. A failed load is tried again next time.
 */
export function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
}
