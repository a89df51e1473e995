import { describe, expect, it, vi } from 'vitest';
import { type SettleBatch, SettleRequest } from '../gen/gateway/v1/governance.js';
import { createLogger } from '../kit/log.js';
import { Settlements } from './admission.js';
import type { IngressClients } from './pipeline.js';

/** A governance client whose SettleMany fails `failures` times, then settles. */
function governance(failures: number) {
  const calls: SettleBatch[] = [];
  const clients = {
    inProcess: () => true,
    governance: {
      settleMany: async (batch: SettleBatch) => {
        calls.push(batch);
        if (calls.length <= failures) throw new Error('14 UNAVAILABLE: governance restarting');
        return {};
      },
    },
  } as unknown as IngressClients;
  return { clients, calls };
}

const settle = (reservationId: string) => SettleRequest.fromPartial({ reservationId });
const log = createLogger({ level: 'silent' });

describe('settling ended requests with governance', () => {
  it('tries a failed settle again until governance takes it, with the same reservations', async () => {
    const { clients, calls } = governance(2);
    const settlements = new Settlements(clients, log, [0, 0, 0]);
    settlements.add(settle('r1'));
    settlements.add(settle('r2'));
    settlements.flush();
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    expect(calls.map((c) => c.settles.map((s) => s.reservationId))).toEqual([
      ['r1', 'r2'],
      ['r1', 'r2'],
      ['r1', 'r2'],
    ]);
  });

  it('stops after its last try, leaving the reservations for governance to expire', async () => {
    const { clients, calls } = governance(Number.POSITIVE_INFINITY);
    const warn = vi.spyOn(log, 'warn');
    const settlements = new Settlements(clients, log, [0, 0]);
    settlements.add(settle('r1'));
    settlements.flush();
    await vi.waitFor(() => expect(warn).toHaveBeenLastCalledWith(expect.anything(), expect.stringContaining('when they expire')));
    expect(calls).toHaveLength(3);
  });
});
