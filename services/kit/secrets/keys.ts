import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Virtual keys look like `sk-gw-` plus 43 characters of base64url (256 random bits). */
export const VIRTUAL_KEY_PREFIX = 'sk-gw-';

export function generateVirtualKey(): string {
  return VIRTUAL_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Keys are high-entropy random values, so a plain SHA-256 is a safe stored form. One-shot (crypto.hash): made
 * for every request, where a Hash object costs about twice as much (docs/performance.md).
 */
export function hashSecret(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/** Compares two secrets in time independent of where they differ (both are hashed first). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(hashSecret(a), hashSecret(b));
}

export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
