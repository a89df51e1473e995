import { describe, expect, it } from 'vitest';
import { passthroughRoute, passthroughStreams, passthroughWithoutOutput } from './passthrough.js';

describe('which listed passthrough path a request is', () => {
  it('matches a listed path exactly, or a Gemini path by the one model segment it names', () => {
    expect(passthroughRoute('anthropic', '/v1/messages')).toEqual({ listed: '/v1/messages', model: undefined });
    expect(passthroughRoute('gemini', '/v1beta/models/gemini-2.5-flash:generateContent')).toEqual({
      listed: '/v1beta/models/{model}:generateContent',
      model: 'gemini-2.5-flash',
    });
    expect(passthroughRoute('gemini', '/v1beta/models/gemini-2.0-flash-001:streamGenerateContent')?.model).toBe('gemini-2.0-flash-001');
  });

  it('matches nothing else: the template itself, other resources, dot segments, slashes or escapes in the model', () => {
    for (const path of [
      '/v1beta/models/{model}:generateContent',
      '/v1beta/models/:generateContent',
      '/v1beta/models/..:generateContent',
      '/v1beta/models/../files:generateContent',
      '/v1beta/models/a%2F..%2Fb:generateContent',
      '/v1beta/models/gemini-2.5-flash:generateContent/x',
      '/v1beta/tunedModels/mine:generateContent',
      '/v1/models/gemini-2.5-flash:generateContent',
      '/v1beta/models/gemini-2.5-flash:predict',
    ]) {
      expect(passthroughRoute('gemini', path)).toBeUndefined();
    }
    expect(passthroughRoute('openai', '/v1/chat/completions/')).toBeUndefined();
  });

  it('streams where the path says so (Gemini) or the body does, and reserves no output for counts and embeddings', () => {
    expect(passthroughStreams('gemini', '/v1beta/models/{model}:streamGenerateContent', {})).toBe(true);
    expect(passthroughStreams('gemini', '/v1beta/models/{model}:generateContent', { stream: true })).toBe(false);
    expect(passthroughStreams('openai', '/v1/chat/completions', { stream: true })).toBe(true);
    expect(passthroughWithoutOutput('/gemini/v1beta/models/{model}:countTokens')).toBe(true);
    expect(passthroughWithoutOutput('/gemini/v1beta/models/{model}:batchEmbedContents')).toBe(true);
    expect(passthroughWithoutOutput('/gemini/v1beta/models/{model}:generateContent')).toBe(false);
  });
});
