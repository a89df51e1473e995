import { describe, expect, it } from 'vitest';
import { KeyRing } from './schema.js';

describe('key ring', () => {
  it("fingerprints each credential's current value: the same while it stays, a new one once rotated", () => {
    const current = { 'env:A': { value: 'sk-first' }, 'env:B': { value: 'sk-second' } } as Record<string, { value: string }>;
    const ring = new KeyRing(['env:A', 'env:B'], { get: (ref) => current[ref]! });
    const a = ring.stamp(0);
    expect(a).toMatch(/^[\w-]{16}$/);
    expect(a).not.toContain('sk-first');
    expect(ring.stamp(0)).toBe(a);
    expect(ring.stamp(2)).toBe(a);
    expect(ring.stamp(1)).not.toBe(a);

    current['env:A']!.value = 'sk-rotated';
    const rotated = ring.stamp(0);
    expect(rotated).not.toBe(a);
    expect(ring.at(0)).toBe('sk-rotated');
    current['env:A']!.value = 'sk-first';
    expect(ring.stamp(0)).toBe(a);
  });
});
