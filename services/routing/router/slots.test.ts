import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Slots } from './slots.js';

const never = new AbortController().signal;

describe('slots of a capped deployment', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const capped = (maxInFlight: number, queueTimeoutMs = 1_000) => new Slots({ maxInFlight, queueTimeoutMs }, () => Date.now());

  it('never makes a call wait without a cap', () => {
    const slots = new Slots(undefined);
    for (let i = 0; i < 1_000; i++) expect(slots.tryTake()).toBe(true);
    expect(slots.inFlight).toBe(1_000);
  });

  it('hands a freed slot to the first waiter, so a newcomer cannot overtake the queue', async () => {
    const slots = capped(1);
    expect(slots.tryTake()).toBe(true);
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => slots.wait(never).then((granted) => granted && order.push(n)));
    expect(slots.queued).toBe(3);
    slots.release();
    expect(slots.tryTake()).toBe(false);
    await Promise.resolve();
    expect(order).toEqual([1]);
    slots.release();
    slots.release();
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
    expect(slots.inFlight).toBe(1);
    slots.release();
    expect(slots.inFlight).toBe(0);
  });

  it('gives up on waiters in arrival order once queueTimeoutMs passed', async () => {
    const slots = capped(1, 1_000);
    slots.tryTake();
    const first = slots.wait(never);
    vi.advanceTimersByTime(400);
    const second = slots.wait(never);
    vi.advanceTimersByTime(600);
    expect(await first).toBe(false);
    expect(slots.queued).toBe(1);
    vi.advanceTimersByTime(400);
    expect(await second).toBe(false);
    expect(slots.queued).toBe(0);
    expect(slots.inFlight).toBe(1);
  });

  it('lets a waiter whose client went away leave the queue at once', async () => {
    const slots = capped(1);
    slots.tryTake();
    const gone = new AbortController();
    const leaving = slots.wait(gone.signal);
    const staying = slots.wait(never);
    gone.abort(new Error('client gone'));
    await expect(leaving).rejects.toThrow('client gone');
    expect(slots.queued).toBe(1);
    slots.release();
    expect(await staying).toBe(true);
  });

  it('holds a slot until the signal of a call that outlives its return aborts', () => {
    const slots = capped(1);
    slots.tryTake();
    const stream = new AbortController();
    slots.releaseWhen(stream.signal);
    expect(slots.hasRoom).toBe(false);
    stream.abort();
    expect(slots.hasRoom).toBe(true);
  });

  it('lets waiters in when the cap is raised, and frees no slot past a lowered one', async () => {
    const slots = capped(1);
    slots.tryTake();
    const waiting = [slots.wait(never), slots.wait(never)];
    slots.setCap({ maxInFlight: 3, queueTimeoutMs: 1_000 });
    expect(await Promise.all(waiting)).toEqual([true, true]);
    expect(slots.inFlight).toBe(3);
    slots.setCap({ maxInFlight: 1, queueTimeoutMs: 1_000 });
    const next = slots.wait(never);
    slots.release();
    slots.release();
    expect(slots.queued).toBe(1);
    slots.release();
    expect(await next).toBe(true);
  });
});
