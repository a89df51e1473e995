import { createHash } from 'node:crypto';

/**
 * The fakes' embeddings: a unit vector from the hashed words of the text, so
 * the same text always gives the same vector and texts sharing words are close.
 */
export function wordVector(text: string, dimensions: number): number[] {
  const values = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const digest = createHash('sha256').update(word).digest();
    values[digest.readUInt32BE(0) % dimensions]! += digest[4]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => v / norm);
}
