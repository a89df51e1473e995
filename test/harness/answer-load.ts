import OpenAI from 'openai';

/** Loops sending requests (every other one streamed) until told to stop; the ids of those answered completely. */
export function loadUntilStopped(baseURL: string, key: string, loops: number) {
  const answered: string[] = [];
  let running = true;
  const client = new OpenAI({ baseURL, apiKey: key, maxRetries: 0, timeout: 20_000 });
  const loop = async (n: number) => {
    for (let i = 0; running; i++) {
      try {
        if ((n + i) % 2 === 0) {
          const { data, response } = await client.chat.completions
            .create({ model: 'mock/echo', messages: [{ role: 'user', content: `whole ${n}.${i}` }] })
            .withResponse();
          if (data.choices[0]?.finish_reason === 'stop') answered.push(response.headers.get('x-request-id')!);
        } else {
          const { data, response } = await client.chat.completions
            .create({ model: 'mock/echo', messages: [{ role: 'user', content: `stream ${n}.${i}` }], stream: true })
            .withResponse();
          let finished = false;
          for await (const chunk of data) if (chunk.choices[0]?.finish_reason === 'stop') finished = true;
          // A stream cut before its finish reason is not an answer (the SDK may end quietly at a closed connection).
          if (finished) answered.push(response.headers.get('x-request-id')!);
        }
      } catch {
        // Ingress is gone: this loop waits until it is back or the load stops.
        await new Promise((resume) => setTimeout(resume, 50));
      }
    }
  };
  const loopsDone = Promise.all(Array.from({ length: loops }, (_, n) => loop(n)));
  return {
    answered,
    stop: async () => {
      running = false;
      await loopsDone;
    },
  };
}
