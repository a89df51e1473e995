import { describe, expect, it } from 'vitest';
import { directText } from './direct-text.js';

describe('the text a direct endpoint sends on', () => {
  it('reads each endpoint’s own fields, and writes checked text into a copy only', () => {
    const body = { model: 'm', query: 'who is bob?', documents: ['bob@example.com', { text: 'alice' }, 42], top_n: 2 };
    const { copy, segments, write } = directText('rerank', body);
    expect(segments).toEqual([
      { path: 'query', text: 'who is bob?' },
      { path: 'documents[0]', text: 'bob@example.com' },
      { path: 'documents[1].text', text: 'alice' },
    ]);
    write(segments.map((s) => ({ ...s, text: s.text.toUpperCase() })));
    expect(copy).toEqual({ model: 'm', query: 'WHO IS BOB?', documents: ['BOB@EXAMPLE.COM', { text: 'ALICE' }, 42], top_n: 2 });
    expect(body.documents[0]).toBe('bob@example.com');
  });

  it('reads Anthropic messages for token counting: the system prompt and each message’s text blocks', () => {
    const body = {
      model: 'm',
      system: [{ type: 'text', text: 'be brief' }],
      messages: [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'hello' },
            { type: 'tool_use', id: 't', name: 'x', input: {} },
          ],
        },
      ],
    };
    expect(directText('messages.count_tokens', body).segments.map((s) => s.path)).toEqual([
      'system[0].text',
      'messages[0].content',
      'messages[1].content[0].text',
    ]);
    expect(directText('moderations', { input: 'one' }).segments).toEqual([{ path: 'input', text: 'one' }]);
    expect(directText('images.generations', { prompt: 'a cat' }).segments).toEqual([{ path: 'prompt', text: 'a cat' }]);
    expect(directText('audio.speech', { input: 'say this', instructions: 'calmly', voice: 'alloy' }).segments).toEqual([
      { path: 'input', text: 'say this' },
      { path: 'instructions', text: 'calmly' },
    ]);
    expect(directText('audio.transcriptions', { prompt: 'names: Ana', language: 'en' }).segments).toEqual([{ path: 'prompt', text: 'names: Ana' }]);
    expect(directText('audio.translations', { prompt: 'a fox' }).segments).toEqual([{ path: 'prompt', text: 'a fox' }]);
    expect(directText('unknown', { prompt: 'a cat' }).segments).toEqual([]);
  });
});
