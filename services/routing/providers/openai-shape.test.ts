import { describe, expect, it } from 'vitest';
import { chatChunk, chatCompletion, embeddingsList } from './openai-shape.js';

const message = (fields: Record<string, unknown>) => ({ choices: [{ index: 0, message: { role: 'assistant', ...fields }, finish_reason: 'stop' }] });

describe('OpenAI-compatible answers', () => {
  it('takes what the API documents, nulls included', () => {
    expect(() =>
      chatCompletion(message({ content: null, refusal: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] })),
    ).not.toThrow();
    expect(() => chatChunk({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })).not.toThrow();
    expect(() => embeddingsList({ data: [{ embedding: [0.1] }, { embedding: 'AAAA' }] })).not.toThrow();
  });

  it('names the first thing routing would trip over', () => {
    expect(() => chatCompletion({ choices: [{ index: 0 }] })).toThrow('choices[0].message is not an object');
    expect(() => chatCompletion(message({ content: 42 }))).toThrow('choices[0].message.content is not a string');
    expect(() => chatCompletion(message({ content: null, tool_calls: [{ id: 'c' }] }))).toThrow('choices[0].message.tool_calls[0].function is not an object');
    expect(() => chatChunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: {} } }] } }] })).toThrow(
      'function.arguments is not a string',
    );
    expect(() => embeddingsList({ data: [{ embedding: null }] })).toThrow('data[0].embedding is neither an array nor base64');
  });

  it("reads a streamed choice that carries only Azure's content-filter results as an empty delta", () => {
    const chunk = chatChunk({ choices: [{ index: 0, finish_reason: null, content_filter_results: {} }] });
    expect(chunk.choices[0]?.delta).toEqual({});
  });
});
