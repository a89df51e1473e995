import { describe, expect, it } from 'vitest';
import { readBatchInput } from './batch-input.js';

const line = (id: string, url = '/v1/embeddings') => JSON.stringify({ custom_id: id, method: 'POST', url, body: { model: 'm', input: id } });
const read = (text: string, maxLines = 10) => readBatchInput(Buffer.from(text), '/v1/embeddings', maxLines);

describe('a batch input file', () => {
  it('takes JSON lines in order, blank lines skipped, numbered as in the file', () => {
    expect(read(`${line('a')}\n\n${line('b')}\n`)).toEqual({
      lines: [
        { line: 1, customId: 'a', body: { model: 'm', input: 'a' } },
        { line: 3, customId: 'b', body: { model: 'm', input: 'b' } },
      ],
    });
  });

  it('refuses a file without requests, one over maxLines, a wrong method and a streamed body', () => {
    expect(read('\n\n')).toEqual({ errors: [{ code: 'empty_file', message: 'The input file has no requests.', param: 'input_file_id', line: null }] });
    expect(read([line('a'), line('b'), line('c')].join('\n'), 2)).toMatchObject({ errors: [{ code: 'too_many_tasks', line: null }] });
    const get = JSON.stringify({ custom_id: 'g', method: 'GET', url: '/v1/embeddings', body: {} });
    const streamed = JSON.stringify({ custom_id: 's', method: 'POST', url: '/v1/embeddings', body: { stream: true } });
    expect(read(`${get}\n${streamed}`)).toMatchObject({
      errors: [
        { code: 'invalid_method', line: 1, param: 'method' },
        { code: 'invalid_request', line: 2, param: 'body.stream' },
      ],
    });
  });

  it('lists at most 100 errors', () => {
    const result = read(Array.from({ length: 150 }, () => 'x').join('\n'));
    expect('errors' in result && result.errors.length).toBe(100);
  });
});
