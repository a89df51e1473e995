import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { IMAGE_TOKENS, measurePrompt, PromptCounting } from './prompt-size.js';

const measure = (body: Record<string, unknown>, exact = true) => measurePrompt(Buffer.from(JSON.stringify(body)), body, exact);

describe('measurePrompt', () => {
  it('never counts fewer tokens than o200k_base finds in the text, for English, CJK, emoji and code', () => {
    for (const text of [
      'The quick brown fox jumps over the lazy dog. '.repeat(50),
      '東京都の天気は晴れです。明日は雨が降るでしょう。'.repeat(40),
      '🙂👍🏽🚀'.repeat(100),
      'function f(x) { return x * 2; }\n'.repeat(30),
    ]) {
      const body = {
        model: 'gpt-4o',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: text },
        ],
      };
      const { boundTokens, o200kTokens } = measure(body);
      const textTokens = countTokens(text) + countTokens('be brief');
      expect(o200kTokens).toBeGreaterThanOrEqual(textTokens);
      expect(boundTokens).toBeGreaterThanOrEqual(o200kTokens);
    }
  });

  it('counts tools and response schemas, which providers bill as prompt', () => {
    const plain = measure({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    const withTool = measure({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [
        {
          type: 'function',
          function: { name: 'lookup_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
      ],
    });
    expect(withTool.o200kTokens - plain.o200kTokens).toBeGreaterThanOrEqual(countTokens('lookup_weather') + countTokens('Weather for a city'));
  });

  it("replaces an image's bytes with a fixed allowance: a megabyte of base64 is not a million tokens, and a URL is not free", () => {
    const data = `data:image/png;base64,${'A'.repeat(1_000_000)}`;
    const inline = measure({
      model: 'm',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image_url', image_url: { url: data } },
          ],
        },
      ],
    });
    expect(inline.boundTokens).toBeLessThan(IMAGE_TOKENS + 200);
    expect(inline.boundTokens).toBeGreaterThanOrEqual(IMAGE_TOKENS);
    expect(inline.o200kTokens).toBeGreaterThanOrEqual(IMAGE_TOKENS);
    const anthropic = measure({
      model: 'm',
      max_tokens: 10,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] }],
    });
    expect(anthropic.boundTokens).toBeGreaterThanOrEqual(IMAGE_TOKENS);
  });

  it("counts token arrays one token a number and leaves the answer's settings out", () => {
    const tokens = Array.from({ length: 500 }, (_, i) => i);
    expect(measure({ model: 'text-embedding-3-small', input: tokens }).o200kTokens).toBeGreaterThanOrEqual(500);
    const settings = measure({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 123456,
      user: 'a-very-long-end-user-identifier-that-is-not-prompt',
    });
    expect(settings.o200kTokens).toBe(measure({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).o200kTokens);
  });

  it('skips the exact count when asked to, keeping the bound', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hello there' }] };
    expect(measure(body, false)).toEqual({ boundTokens: measure(body).boundTokens, o200kTokens: 0 });
  });
});

describe('PromptCounting', () => {
  it('counts a key it has not heard of and then follows what governance said of it', () => {
    const counting = new PromptCounting();
    const key = Buffer.from('key-1');
    expect(counting.wanted(key)).toBe(true);
    counting.learn(key, false);
    expect(counting.wanted(key)).toBe(false);
    counting.learn(key, true);
    expect(counting.wanted(key)).toBe(true);
  });
});
