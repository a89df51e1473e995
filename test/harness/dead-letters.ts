import type { DeadLetters } from '../../services/kit/bus/dead-letters.js';
import type { Event } from '../../services/kit/events.js';

/**
 * A stand-in for dead_letters that keeps, in order, what was set aside and
 * why, and never tries it again (retries are tested with PostgreSQL, in
 * dead-letter-retry.test.ts and the e2e tests).
 */
export function deadLetterRecorder(): DeadLetters & { kept: Array<{ consumer: string; event: Event; reason: string }> } {
  const kept: Array<{ consumer: string; event: Event; reason: string }> = [];
  return {
    kept,
    setAside: async (consumer, event, err) => void kept.push({ consumer, event, reason: err.message }),
    retrying: () => ({ stop: async () => undefined }),
  };
}
