/** One server-sent event: its `event` field ("" when absent) and its data. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Reads a server-sent-events body (https://html.spec.whatwg.org/multipage/server-sent-events.html)
 * into events. `id`, `retry` and comments are skipped; an event cut off before
 * its closing blank line is discarded, as the spec says.
 */
export async function* readSse(body: AsyncIterable<Buffer | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let event = '';
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (buffer[newline] === '\r' && newline === buffer.length - 1) break;
      const line = buffer.slice(0, newline);
      const width = buffer[newline] === '\r' && buffer[newline + 1] === '\n' ? 2 : 1;
      buffer = buffer.slice(newline + width);
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n') };
        data = [];
        event = '';
      } else if (line.startsWith('data:')) {
        data.push(line.slice(line[5] === ' ' ? 6 : 5));
      } else if (line.startsWith('event:')) {
        event = line.slice(line[6] === ' ' ? 7 : 6);
      }
    }
  }
}
