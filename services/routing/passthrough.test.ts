import { describe, expect, it } from 'vitest';
import { capOutput, passthroughProvider } from './passthrough.js';
import type { ProviderAdapter } from './providers/types.js';

const provider = (name: string, type: string) => ({ name, type }) as ProviderAdapter;

describe('which provider a passthrough request goes to', () => {
  const providers = [provider('mock', 'mock'), provider('eu', 'openai'), provider('us', 'openai'), provider('claude', 'anthropic')];

  it('is the one the client named, if of the API’s type, else the first of that type', () => {
    expect(passthroughProvider(providers, 'openai', 'us').name).toBe('us');
    expect(passthroughProvider(providers, 'openai', '').name).toBe('eu');
    expect(passthroughProvider(providers, 'anthropic', '').name).toBe('claude');
  });

  it('is refused, saying why, when the named one does not serve the API or none of its type is configured', () => {
    expect(() => passthroughProvider(providers, 'anthropic', 'eu')).toThrow(
      expect.objectContaining({
        status: 400,
        param: 'x-gateway-provider',
        message: 'No configured provider `eu` serves the anthropic API; those that do: claude.',
      }),
    );
    expect(() => passthroughProvider([provider('eu', 'openai')], 'anthropic', '')).toThrow(
      expect.objectContaining({ status: 404, message: 'No provider of type anthropic is configured, so /anthropic/ is not served.' }),
    );
    expect(() => passthroughProvider(providers, 'gemini', '')).toThrow(expect.objectContaining({ status: 404 }));
  });
});

describe('the output cap written into a passthrough request', () => {
  const capped = (api: string, path: string, body: Record<string, unknown>) => {
    const sent = { ...body };
    capOutput(api, path, sent, 100);
    return sent;
  };

  it('goes in the parameter each API reads, lowering a higher one and keeping a lower one', () => {
    expect(capped('openai', '/v1/chat/completions', {})).toEqual({ max_completion_tokens: 100 });
    expect(capped('openai', '/v1/chat/completions', { max_tokens: 500 })).toEqual({ max_tokens: 100 });
    expect(capped('openai', '/v1/chat/completions', { max_completion_tokens: 40 })).toEqual({ max_completion_tokens: 40 });
    expect(capped('openai', '/v1/completions', { max_tokens: 500 })).toEqual({ max_tokens: 100 });
    expect(capped('openai', '/v1/responses', { max_output_tokens: 5000 })).toEqual({ max_output_tokens: 100 });
    expect(capped('anthropic', '/v1/messages', { max_tokens: 4096 })).toEqual({ max_tokens: 100 });
    expect(capped('gemini', '/v1beta/models/{model}:generateContent', { generationConfig: { temperature: 0.5, maxOutputTokens: 8192 } })).toEqual({
      generationConfig: { temperature: 0.5, maxOutputTokens: 100 },
    });
    expect(capped('gemini', '/v1beta/models/{model}:generateContent', { generationConfig: { maxOutputTokens: 40 } })).toEqual({
      generationConfig: { maxOutputTokens: 40 },
    });
    expect(capped('gemini', '/v1beta/models/{model}:streamGenerateContent', {})).toEqual({ generationConfig: { maxOutputTokens: 100 } });
    expect(capped('bedrock', '/model/{model}/converse', { inferenceConfig: { temperature: 0, maxTokens: 4096 } })).toEqual({
      inferenceConfig: { temperature: 0, maxTokens: 100 },
    });
    expect(capped('bedrock', '/model/{model}/converse-stream', {})).toEqual({ inferenceConfig: { maxTokens: 100 } });
    expect(capped('bedrock', '/model/{model}/invoke', { anthropic_version: 'bedrock-2023-05-31', max_tokens: 40 })).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 40,
    });
    expect(capped('bedrock', '/model/{model}/invoke-with-response-stream', { max_tokens: 4096 })).toEqual({ max_tokens: 100 });
  });
});
