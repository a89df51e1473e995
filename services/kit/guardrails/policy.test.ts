import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../config.js';
import { guardrailsConfigSchema } from './index.js';

/** The problems start-up would report for this guardrails section. */
function startupProblems(guardrails: unknown): string[] {
  try {
    loadConfig(z.object({ guardrails: guardrailsConfigSchema }), { overrides: { guardrails } });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('guardrail policy configuration', () => {
  it('takes detector ids, groups and custom detectors, analyzers, and policies attached to every kind of scope', () => {
    expect(
      startupProblems({
        custom: [{ name: 'ticket', pattern: 'PRJ-\\d+' }],
        analyzers: { presidio: { url: 'http://presidio:3000' } },
        policies: {
          baseline: { rules: [{ name: 'keys', detectors: ['secrets', 'custom', 'custom.ticket', 'email'], action: 'block' }] },
          people: { rules: [{ name: 'names', external: 'presidio', onAnalyzerError: 'open', direction: 'request', action: 'redact', restore: true }] },
        },
        attach: { global: ['baseline'], customers: { acme: ['people'] }, teams: { data: ['people'] }, keys: { vk_1: ['baseline', 'people'] } },
      }),
    ).toEqual([]);
    expect(startupProblems(undefined)).toEqual([]);
  });

  it('names the key of each reference to something not configured', () => {
    const problems = startupProblems({
      policies: {
        baseline: {
          rules: [
            { name: 'keys', detectors: ['secret.openai', 'custom.ticket'], action: 'block' },
            { name: 'ppl', external: 'presidio', onAnalyzerError: 'closed', action: 'flag' },
          ],
        },
      },
      attach: { teams: { data: ['baseline', 'strict'] } },
    });
    expect(problems.map((problem) => problem.split(':')[0])).toEqual([
      'guardrails.policies.baseline.rules.0.detectors.0',
      'guardrails.policies.baseline.rules.0.detectors.1',
      'guardrails.policies.baseline.rules.1.external',
      'guardrails.attach.teams.data.1',
    ]);
    expect(problems.join('\n')).toContain('no policy is named strict');
  });

  it('refuses rules that could not do what they say', () => {
    const rule = (fields: object) => startupProblems({ policies: { p: { rules: [{ name: 'r', action: 'redact', ...fields }] } } });
    expect(rule({})).toEqual([expect.stringContaining('a rule needs one of detectors and external')]);
    expect(rule({ detectors: ['email'], external: 'presidio' })).toContainEqual(expect.stringContaining('a rule needs one of detectors and external'));
    expect(rule({ detectors: ['email'], action: 'flag', restore: true })).toEqual([
      expect.stringContaining('restore applies to a redact rule that reads requests'),
    ]);
    expect(rule({ detectors: ['email'], direction: 'answer', restore: true })).toEqual([expect.stringContaining('restore applies to a redact rule')]);
    expect(rule({ detectors: ['email'], onAnalyzerError: 'open' })).toEqual([
      expect.stringContaining('onAnalyzerError applies to a rule with an external analyzer only'),
    ]);
    const analyzers = { presidio: { url: 'http://presidio:3000' } };
    const external = (fields: object) =>
      startupProblems({ analyzers, policies: { p: { rules: [{ name: 'r', action: 'flag', external: 'presidio', ...fields }] } } });
    expect(external({})).toEqual([expect.stringContaining('must say whether it fails open or closed')]);
    expect(external({ onAnalyzerError: 'open', direction: 'both' })).toEqual([expect.stringContaining('an external analyzer reads requests only')]);
    expect(
      startupProblems({
        policies: {
          p: {
            rules: [
              { name: 'r', detectors: ['email'], action: 'flag' },
              { name: 'r', detectors: ['phone'], action: 'flag' },
            ],
          },
        },
      }),
    ).toEqual([expect.stringContaining('another rule of this policy is named r')]);
  });
});
