import { describe, expect, it } from 'vitest';
import { GatewayError } from '../kit/errors.js';
import { requestTags } from './tags.js';

describe('a request’s tags', () => {
  it('reads our header, then LiteLLM’s header and metadata.tags, in order and without repeats', () => {
    const headers = { 'x-gateway-tags': 'app:search, env:prod', 'x-litellm-tags': 'env:prod,team=blue' };
    expect(requestTags(headers, { metadata: { tags: ['app:search', 'feature/summary'] } })).toEqual(['app:search', 'env:prod', 'team=blue', 'feature/summary']);
    expect(requestTags({}, { metadata: { tags: 'a,b' } })).toEqual(['a', 'b']);
    expect(requestTags({}, { metadata: { user: 'x' } })).toEqual([]);
    expect(requestTags({}, undefined)).toEqual([]);
  });

  it('refuses what is not a tag, naming where it came from', () => {
    const refusal = (headers: Record<string, string>, body?: unknown) => {
      try {
        requestTags(headers, body);
      } catch (err) {
        return err instanceof GatewayError ? { status: err.status, param: err.param, message: err.message } : err;
      }
      return undefined;
    };
    expect(refusal({ 'x-gateway-tags': 'ok,not ok' })).toEqual({
      status: 400,
      param: 'x-gateway-tags',
      message: 'x-gateway-tags: "not ok" is not a tag (1-64 of letters, digits and _ . : / = @ + -).',
    });
    expect(refusal({}, { metadata: { tags: ['x'.repeat(65)] } })).toMatchObject({ param: 'metadata.tags' });
    expect(refusal({}, { metadata: { tags: [42] } })).toMatchObject({
      param: 'metadata.tags',
      message: 'metadata.tags holds strings: tags, or tags separated by commas.',
    });
    const many = Array.from({ length: 17 }, (_, i) => `t${i}`).join(',');
    expect(refusal({ 'x-litellm-tags': many })).toMatchObject({ param: 'x-litellm-tags', message: 'A request has at most 16 tags.' });
  });
});
