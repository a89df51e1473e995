import { settingAsideRefused, type DeadLetters, type SetAside } from '../../services/kit/bus/dead-letters.js';
import type { Event } from '../../services/kit/events.js';

/**
 * A stand-in for dead_letters that keeps, in order, what was set aside and
 * why, and never tries it again (retries are tested with PostgreSQL, in
 * dead-letter-retry.test.ts and the e2e tests).
 */
export function deadLetterRecorder(): DeadLetters & { kept: Array<{ consumer: string; event: Event; reason: string }> } {
  const kept: Array<{ consumer: string; event: Event; reason: string }> = [];
  const setAside: SetAside = async (consumer, event, err) => void kept.push({ consumer, event, reason: err.message });
  return {
    kept,
    setAside,
    guard: (consumer, _maxBatch, write, refusalOf) => ({
      write: settingAsideRefused(consumer, write, refusalOf, setAside),
      stop: async () => undefined,
    }),
  };
}
