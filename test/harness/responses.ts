import { keep, recordSecret } from './leaks.js';

/**
 * Keeps, for the leak scan, the body of every HTTP response a test receives
 * from a gateway: global fetch (which the openai and Anthropic clients use
 * too) is wrapped once per test process, and bodies from the origins the
 * harness started are copied as the test reads them. Nothing else changes for
 * the test: the body still streams, and cancelling it cancels the request.
 */

const watched = new Set<string>();

/** Responses from these URLs' origins are kept from now on. */
export function watchResponsesFrom(...urls: string[]): void {
  for (const url of urls) if (url) watched.add(new URL(url).origin);
}

/** Where the gateway hands out a virtual key: the one place a secret belongs in a response body. */
const ISSUES_KEYS = /^\/admin\/keys(\/[^/]+\/rotate)?$/;

function kept(response: Response, method: string, path: string): Response {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    text += decoder.decode();
    const issued = method === 'POST' && ISSUES_KEYS.test(path) && response.ok ? (JSON.parse(text) as { key?: unknown }).key : undefined;
    if (typeof issued === 'string') {
      recordSecret(issued);
      text = text.replaceAll(issued, '<issued key>');
    }
    keep('responses', `--- ${method} ${path} → ${response.status}\n${text}`);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          finish();
          controller.close();
          return;
        }
        text += decoder.decode(chunk.value, { stream: true });
        controller.enqueue(chunk.value);
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  const copy = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  return Object.defineProperties(copy, { url: { value: response.url }, redirected: { value: response.redirected } });
}

type Fetch = typeof fetch & { unwrapped?: typeof fetch };

/** Wraps global fetch, for every test file anew over the original one: each file has its own harness modules, so its own watched origins. */
export function captureResponses(): void {
  const unwrapped = (globalThis.fetch as Fetch).unwrapped ?? globalThis.fetch;
  const capturing = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await unwrapped(input, init);
    const url = new URL(response.url || (input instanceof Request ? input.url : String(input)));
    if (!response.body || !watched.has(url.origin)) return response;
    return kept(response, (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(), url.pathname);
  };
  globalThis.fetch = Object.assign(capturing, { unwrapped });
}
