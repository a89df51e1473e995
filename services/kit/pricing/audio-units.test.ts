import { describe, expect, it } from 'vitest';
import { Pricing } from './index.js';
import { audioSeconds } from './units.js';

/** A WAV of `dataBytes` samples at `byteRate` bytes a second, with a LIST chunk before its data as some encoders write. */
function wav(dataBytes: number, byteRate: number, list = false): Buffer {
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'ascii');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(byteRate / 2, 12);
  fmt.writeUInt32LE(byteRate, 16);
  fmt.writeUInt16LE(2, 20);
  fmt.writeUInt16LE(16, 22);
  const extra = list ? Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0')]) : Buffer.alloc(0);
  const data = Buffer.alloc(8 + dataBytes);
  data.write('data', 0, 'ascii');
  data.writeUInt32LE(dataBytes, 4);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(4 + fmt.length + extra.length + data.length, 4);
  head.write('WAVE', 8, 'ascii');
  return Buffer.concat([head, fmt, extra, data]);
}

describe('audio units', () => {
  it("reads a WAV's seconds from its header, past other chunks (an odd-sized one padded), and never past its bytes", () => {
    expect(audioSeconds(wav(64_000, 32_000))).toBe(2);
    expect(audioSeconds(wav(48_000, 32_000, true))).toBe(1.5);
    const cut = wav(64_000, 32_000).subarray(0, 44 + 16_000);
    expect(audioSeconds(cut)).toBe(0.5);
  });

  it('estimates other audio at 16 kbit/s, at least a second', () => {
    expect(audioSeconds(Buffer.alloc(10_000))).toBe(5);
    expect(audioSeconds(Buffer.alloc(10))).toBe(1);
    expect(audioSeconds(Buffer.from('RIFF....WAVE but not a header'))).toBe(1);
  });

  it('prices characters and seconds at the catalog, a started second whole, and nothing for a model without the price', () => {
    const pricing = new Pricing({});
    expect(pricing.unitsCost('openai', 'tts-1', { unit: 'input_character', quantity: 1_000, variant: '' })).toBe(15_000_000_000n);
    expect(pricing.unitsCost('openai', 'whisper-1', { unit: 'audio_second', quantity: 2.5, variant: '' })).toBe(300_000_000n);
    expect(pricing.unitsCost('openai', 'gpt-4o-mini', { unit: 'audio_second', quantity: 60, variant: '' })).toBeUndefined();
  });
});
