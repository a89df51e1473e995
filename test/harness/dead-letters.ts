import type { SetAside } from '../../services/kit/bus/dead-letters.js';
import type { Event } from '../../services/kit/events.js';

/** A stand-in for dead_letters that keeps, in order, what was set aside and why. */
export function deadLetterRecorder(): { setAside: SetAside; kept: Array<{ consumer: string; event: Event; reason: string }> } {
  const kept: Array<{ consumer: string; event: Event; reason: string }> = [];
  return {
    kept,
    setAside: async (consumer, event, err) => void kept.push({ consumer, event, reason: err.message }),
  };
}
