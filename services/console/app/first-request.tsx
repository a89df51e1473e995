import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorLine, field } from './forms.js';

/**
 * A new key's first request, sent from this page to the API (ingress) with the key: the models the key may use, the
 * answer as it streams, and the same request as curl and the OpenAI SDK would send it. The key stays in this
 * component's memory: never stored, never sent anywhere but the API, never put in the snippets.
 */
export function FirstRequest({ apiKey }: { apiKey: string }) {
  const [base, setBase] = useState<string | null | undefined>();
  const [models, setModels] = useState<string[]>([]);
  const [sent, setSent] = useState<{ model: string; message: string } | undefined>();
  const [answer, setAnswer] = useState('');
  const [requestId, setRequestId] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState(false);

  // The key goes to the API only once asked to.
  useEffect(() => {
    if (!open) return;
    void (async () => {
      const { url } = await api<{ url: string | null }>('GET', '/admin/console/ingress');
      setBase(url && `${url}/v1`);
      if (!url) return;
      const list = await call(`${url}/v1/models`, apiKey);
      // The API lists only the models this key may use.
      setModels(((await list.json()) as { data: { id: string }[] }).data.map((m) => m.id));
    })().catch((err: Error) => setError(err.message));
  }, [apiKey, open]);

  if (!open)
    return (
      <p class="first-request">
        <button type="button" onClick={() => setOpen(true)}>
          Try this key
        </button>{' '}
        Send it a first request from here.
      </p>
    );
  if (base === null)
    return <p class="first-request">The console does not know the API's address: set governance.console.ingressUrl to send a first request from here.</p>;
  if (base === undefined) return <ErrorLine error={error} />;

  const send = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const request = { model: field(form, 'model').trim(), message: field(form, 'message') };
    setSent(request);
    setAnswer('');
    setRequestId('');
    setError('');
    setBusy(true);
    try {
      const response = await call(`${base}/chat/completions`, apiKey, {
        model: request.model,
        stream: true,
        messages: [{ role: 'user', content: request.message }],
      });
      setRequestId(response.headers.get('x-request-id') ?? '');
      for await (const delta of contentOf(response)) setAnswer((text) => text + delta);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="first-request" aria-labelledby="first-request-title">
      <h2 id="first-request-title">Send a first request with this key</h2>
      <form class="create" onSubmit={send} aria-label="First request">
        <label>
          Model <input name="model" list="key-models" required defaultValue={models[0] ?? ''} key={models[0]} placeholder="a model the key may use" />
          <datalist id="key-models">
            {models.map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
        </label>
        <label class="message">
          Message <textarea name="message" required rows={2} defaultValue="Say hello in one sentence." />
        </label>
        <button type="submit" disabled={busy}>
          Send
        </button>
      </form>
      <ErrorLine error={error} />
      {sent && (
        <>
          <figure>
            <figcaption>Answer{requestId && ` (request ${requestId})`}</figcaption>
            <output aria-label="Answer" aria-busy={busy}>
              {answer}
            </output>
          </figure>
          <Snippets base={base} model={sent.model} message={sent.message} />
        </>
      )}
    </section>
  );
}

/** A call to the API with the key, from this page's origin (the API's CORS allows it); an OpenAI error's message thrown. */
async function call(url: string, apiKey: string, body?: unknown): Promise<Response> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    credentials: 'omit',
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch(() => {
    // The browser says no more than "failed to fetch", whether the API is down or its CORS refused this page.
    throw new Error(`The browser could not call ${new URL(url).origin}: it is not reachable, or its ingress.cors.allowedOrigins lacks ${location.origin}.`);
  });
  if (!response.ok) {
    const answer = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    throw new Error(answer?.error?.message ?? `The API answered ${response.status}.`);
  }
  return response;
}

/** The text of a streamed chat completion, chunk by chunk, from its server-sent events. */
async function* contentOf(response: Response): AsyncGenerator<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    pending += read.value;
    const events = pending.split('\n\n');
    pending = events.pop()!;
    for (const event of events) {
      const data = event.split('\n').find((line) => line.startsWith('data: '));
      if (!data || data === 'data: [DONE]') continue;
      const chunk = JSON.parse(data.slice(6)) as { choices?: { delta?: { content?: string } }[]; error?: { message?: string } };
      if (chunk.error) throw new Error(chunk.error.message ?? 'The stream failed.');
      yield chunk.choices?.[0]?.delta?.content ?? '';
    }
  }
}

/** The same request from a terminal or a program, with the key from the environment rather than on screen. */
function Snippets({ base, model, message }: { base: string; model: string; message: string }) {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: message }] });
  const curl = `curl ${base}/chat/completions \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '${body.replaceAll("'", "'\\''")}'`;
  const python = `from openai import OpenAI

client = OpenAI(base_url=${JSON.stringify(base)})  # the key from OPENAI_API_KEY
answer = client.chat.completions.create(
    model=${JSON.stringify(model)},
    messages=[{"role": "user", "content": ${JSON.stringify(message)}}],
)
print(answer.choices[0].message.content)`;
  const node = `import OpenAI from 'openai';

const client = new OpenAI({ baseURL: ${JSON.stringify(base)} }); // the key from OPENAI_API_KEY
const answer = await client.chat.completions.create({
  model: ${JSON.stringify(model)},
  messages: [{ role: 'user', content: ${JSON.stringify(message)} }],
});
console.log(answer.choices[0].message.content);`;
  return (
    <div class="snippets">
      <p>
        Next, from a terminal or a program: set <code>OPENAI_API_KEY</code> to the key above (<code>export OPENAI_API_KEY=…</code>) and use the base URL{' '}
        <code>{base}</code>.
      </p>
      {[
        ['curl', curl],
        ['Python (openai)', python],
        ['Node.js (openai)', node],
      ].map(([title, text]) => (
        <figure key={title}>
          <figcaption>{title}</figcaption>
          <pre>{text}</pre>
        </figure>
      ))}
    </div>
  );
}
