import { expect } from 'vitest';
import { ProviderError, type ProviderCall, type Timeouts } from '../../services/routing/providers/types.js';

/**
 * Helpers shared by the provider adapter tests (services/routing/providers/*.test.ts),
 * which run each adapter against its fake in test/fakes.
 */

/** Timeouts generous enough for a loaded machine; tests that want a timeout to fire narrow one of them. */
export const TEST_TIMEOUTS: Readonly<Timeouts> = Object.freeze({ connectMs: 2_000, firstByteMs: 2_000, idleMs: 2_000, totalMs: 10_000 });

/** A provider call of `request` with credential `credential` and a signal that never aborts. */
export function call<T>(request: T, credential = 0): ProviderCall<T> {
  return { request, credential, signal: new AbortController().signal };
}

/** Every item of a stream, in order. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

/** The error `promise` rejects with, expected to be a ProviderError (a promise that resolves fails the test). */
export async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}
