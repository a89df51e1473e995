import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CachePolicyMemo } from './cache-policy.js';

describe("ingress's memory of caching's policy", () => {
  const setup = () => {
    const clock = { ms: 0 };
    return { clock, memo: new CachePolicyMemo(new Registry(), () => clock.ms) };
  };

  it('asks caching until it has heard the policy', () => {
    const { memo } = setup();
    expect(memo.skipsRequest('chat.completions', { temperature: 1 })).toBe(false);
    memo.learn(undefined);
    expect(memo.skipsRequest('chat.completions', { temperature: 1 })).toBe(false);
  });

  it('leaves out only what caching would skip whatever else the request holds', () => {
    const { memo } = setup();
    memo.learn({ disabled: false, deterministicOnly: true });
    expect(memo.skipsRequest('chat.completions', { temperature: 0.7 })).toBe(true);
    expect(memo.skipsRequest('responses', {})).toBe(true);
    expect(memo.skipsRequest('chat.completions', { temperature: 0 })).toBe(false);
    expect(memo.skipsRequest('embeddings', {})).toBe(false);
    memo.learn({ disabled: false, deterministicOnly: false });
    expect(memo.skipsRequest('chat.completions', { temperature: 0.7 })).toBe(false);
    memo.learn({ disabled: true, deterministicOnly: false });
    expect(memo.skipsRequest('embeddings', {})).toBe(true);
  });

  it('asks caching again once the policy is ten seconds old, to hear of a change', () => {
    const { clock, memo } = setup();
    memo.learn({ disabled: true, deterministicOnly: true });
    clock.ms = 10_000;
    expect(memo.skipsRequest('embeddings', {})).toBe(true);
    clock.ms = 10_001;
    expect(memo.skipsRequest('embeddings', {})).toBe(false);
  });
});
