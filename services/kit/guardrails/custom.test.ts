import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../config.js';
import { customDetectors, customDetectorsSchema, scan, type CustomDetectorConfig } from './index.js';

const found = (configs: CustomDetectorConfig[], text: string) => scan(text, customDetectors(configs)).map((f) => [f.detector, text.slice(f.start, f.end)]);

/** The problems start-up would report for this list of custom detectors, as it reads them from config. */
function startupProblems(custom: unknown): string[] {
  try {
    loadConfig(z.object({ guardrails: z.object({ custom: customDetectorsSchema }) }), { overrides: { guardrails: { custom } } });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('custom detectors', () => {
  it('finds a pattern with its flags, reported as custom.<name>', () => {
    const configs = [{ name: 'ticket', pattern: 'PRJ-\\d{4,6}', flags: 'i' }];
    expect(found(configs, 'See PRJ-1234 and prj-99999, not PRJ-12.')).toEqual([
      ['custom.ticket', 'PRJ-1234'],
      ['custom.ticket', 'prj-99999'],
    ]);
  });

  it('finds listed words whole and in any case, the longest where two start together', () => {
    const configs = [{ name: 'codenames', words: ['Bluebird', 'bluebird two', 'Zürich', 'c++'] }];
    expect(found(configs, 'BLUEBIRD two and bluebirds, bluebird, zürich not Zürichsee; c++ too.')).toEqual([
      ['custom.codenames', 'BLUEBIRD two'],
      ['custom.codenames', 'bluebird'],
      ['custom.codenames', 'zürich'],
      ['custom.codenames', 'c++'],
    ]);
    expect(found(configs, 'bluebird\n  two')).toEqual([['custom.codenames', 'bluebird\n  two']]);
  });

  it('accepts a valid list', () => {
    expect(
      startupProblems([
        { name: 'ticket', pattern: 'PRJ-\\d+' },
        { name: 'clients', words: ['acme'] },
      ]),
    ).toEqual([]);
  });

  it('stops start-up on a bad pattern, naming its key', () => {
    const [problem] = startupProblems([
      { name: 'ok', words: ['a'] },
      { name: 'broken', pattern: 'PRJ-(\\d+' },
    ]);
    expect(problem).toMatch(/^guardrails\.custom\.1\.pattern: .*not a valid regular expression/);
  });

  it('refuses what cannot be a detector, each problem at its key', () => {
    expect(startupProblems([{ name: 'empty', pattern: 'x*' }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0\.pattern: .*matches the empty string/)]);
    expect(startupProblems([{ name: 'flags', pattern: 'x', flags: 'gy' }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0\.flags: /)]);
    expect(startupProblems([{ name: 'flags', words: ['x'], flags: 'i' }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0\.flags: .*pattern only/)]);
    expect(startupProblems([{ name: 'neither' }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0: .*one of pattern and words/)]);
    expect(startupProblems([{ name: 'both', pattern: 'x', words: ['x'] }])).toEqual([
      expect.stringMatching(/^guardrails\.custom\.0: .*one of pattern and words/),
    ]);
    expect(startupProblems([{ name: 'Bad Name', words: ['x'] }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0\.name: /)]);
    expect(startupProblems([{ name: 'blank', words: [' '] }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0\.words\.0: .*cannot be empty/)]);
    expect(startupProblems([{ name: 'typo', pattern: 'x', flag: 'i' }])).toEqual([expect.stringMatching(/^guardrails\.custom\.0: unknown key\(s\) "flag"/)]);
    expect(
      startupProblems([
        { name: 'twice', words: ['a'] },
        { name: 'twice', words: ['b'] },
      ]),
    ).toEqual([expect.stringMatching(/^guardrails\.custom\.1\.name: .*already named twice/)]);
  });
});
