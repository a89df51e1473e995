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

  it("reads a Bedrock model id as the AWS SDK escapes it, ':' and all, and refuses ARNs and other resources", () => {
    expect(passthroughRoute('bedrock', '/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream')).toEqual({
      listed: '/model/{model}/converse-stream',
      model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    });
    expect(passthroughRoute('bedrock', '/model/amazon.nova-lite-v1:0/converse')?.model).toBe('amazon.nova-lite-v1:0');
    for (const path of [
      '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x/converse',
      '/model/a%2F..%2Fb/invoke',
      '/model/%E0%A4%A/invoke',
      '/model/x/apply-guardrail',
      '/guardrail/g/version/1/apply',
    ]) {
      expect(passthroughRoute('bedrock', path)).toBeUndefined();
    }
    expect(passthroughStreams('bedrock', '/model/{model}/invoke-with-response-stream', {})).toBe(true);
    expect(passthroughStreams('bedrock', '/model/{model}/invoke', { stream: true })).toBe(false);
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
