import { describe, expect, it } from 'vitest';
import { readSse } from './sse.js';

async function collect(chunks: string[]): Promise<string[]> {
  async function* source() {
    for (const chunk of chunks) yield Buffer.from(chunk);
  }
  const out: string[] = [];
  for await (const { data } of readSse(source())) out.push(data);
  return out;
}

describe('server-sent events reader', () => {
  it('yields the data of each event, however the bytes are split', async () => {
    const text = 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n';
    const expected = ['{"a":1}', '{"b":2}', '[DONE]'];
    expect(await collect([text])).toEqual(expected);
    expect(await collect(text.split(''))).toEqual(expected);
  });

  it('handles CRLF line ends split across chunks, comments, other fields and multi-line data', async () => {
    const out = await collect([': keep-alive\r', '\n\r\nevent: message\r\nid: 7\r\ndata: line one\r', '\ndata:line two\r\n\r\n']);
    expect(out).toEqual(['line one\nline two']);
  });

  it('reads the event name of named events', async () => {
    async function* source() {
      yield Buffer.from('event: message_start\ndata: {"type":"message_start"}\n\ndata: plain\n\n');
    }
    const events = [];
    for await (const e of readSse(source())) events.push(e);
    expect(events).toEqual([
      { event: 'message_start', data: '{"type":"message_start"}' },
      { event: '', data: 'plain' },
    ]);
  });

  it('drops an event cut off before its closing blank line, as the spec says', async () => {
    expect(await collect(['data: whole\n\ndata: cut\n'])).toEqual(['whole']);
  });
});
