import { describe, expect, it } from 'vitest';
import { generateVirtualKey, hashSecret, secretsEqual } from './keys.js';

describe('virtual key hashes', () => {
  it('are the SHA-256 of the key, so keys stored by any version still match', () => {
    // FIPS 180-2's example: SHA-256("abc").
    expect(hashSecret('abc').toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const key = generateVirtualKey();
    expect(hashSecret(key).equals(hashSecret(key))).toBe(true);
    expect(secretsEqual(key, key)).toBe(true);
    expect(secretsEqual(key, generateVirtualKey())).toBe(false);
  });
});
