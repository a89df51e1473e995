import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit.js';

describe('a circuit’s outcomes window', () => {
  const setup = () => {
    let clock = 1_000_000;
    const breaker = new CircuitBreaker({ failureThreshold: 2, windowMs: 10_000, openMs: 5_000 }, () => clock);
    return { breaker, advance: (ms: number) => (clock += ms) };
  };

  it('counts successes and faults within the window, through the circuit opening and closing', () => {
    const { breaker, advance } = setup();
    breaker.success();
    breaker.failure();
    advance(1_000);
    breaker.failure();
    expect(breaker.state).toBe('open');
    // Opening forgets the faults toward opening, not the outcomes the error rate is read from.
    expect(breaker.recentFailures).toBe(0);
    expect(breaker.outcomes.counts).toEqual({ calls: 3, faults: 2 });
    advance(5_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.outcomes.counts).toEqual({ calls: 4, faults: 2 });
  });

  it('forgets outcomes older than the window, within a tenth of it', () => {
    const { breaker, advance } = setup();
    breaker.failure();
    advance(9_000);
    breaker.success();
    expect(breaker.outcomes.counts).toEqual({ calls: 2, faults: 1 });
    advance(2_000);
    expect(breaker.outcomes.counts).toEqual({ calls: 1, faults: 0 });
    advance(10_000);
    expect(breaker.outcomes.counts).toEqual({ calls: 0, faults: 0 });
  });
});
