import { z } from 'zod';
import { Specificity, regexDetector, type Detector } from './scan.js';

/**
 * An operator's own detectors: a regular expression, or a list of words
 * matched whole and in any case. Every pattern is compiled when the
 * configuration is read, so a bad one stops start-up with its key named.
 */

const customDetectorSchema = z
  .object({
    /** Reported as `custom.<name>`. */
    name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a name is lower-case letters, digits and _, starting with a letter'),
    pattern: z.string().min(1).optional(),
    /** Flags of the pattern besides g, which every detector has. */
    flags: z
      .string()
      .regex(/^(?!.*(.).*\1)[imsu]*$/, 'flags are some of i, m, s and u, each at most once')
      .optional(),
    words: z.array(z.string().trim().min(1, 'a word cannot be empty')).min(1).optional(),
  })
  .strict()
  .superRefine((detector, ctx) => {
    if ((detector.pattern === undefined) === (detector.words === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a custom detector needs one of pattern and words' });
    }
    if (detector.flags !== undefined && detector.pattern === undefined) {
      ctx.addIssue({ code: 'custom', path: ['flags'], message: 'flags apply to a pattern only' });
    }
    if (detector.pattern === undefined) return;
    try {
      // A pattern that matches nothing at all would find an empty span everywhere.
      if (new RegExp(detector.pattern, detector.flags).test(''))
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'the pattern matches the empty string' });
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

/** The custom detectors of a configuration, with names unique among them. */
export const customDetectorsSchema = z.array(customDetectorSchema).superRefine((detectors, ctx) => {
  const seen = new Set<string>();
  detectors.forEach(({ name }, i) => {
    if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `another custom detector is already named ${name}` });
    seen.add(name);
  });
});

export type CustomDetectorConfig = z.infer<typeof customDetectorSchema>;

/** Characters that have a meaning in a pattern, escaped as `u` mode allows. */
const escapePattern = (word: string): string => word.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Detectors from validated configuration. */
export function customDetectors(configs: readonly CustomDetectorConfig[]): Detector[] {
  return configs.map(({ name, pattern, flags, words }) => {
    if (pattern !== undefined) return regexDetector(`custom.${name}`, Specificity.custom, new RegExp(pattern, `${flags ?? ''}g`));
    // Longest first, so that "acme corp" wins over "acme" where both start; any run of spaces matches a space.
    const alternatives = [...(words ?? [])].sort((a, b) => b.length - a.length).map((word) => escapePattern(word).replace(/\s+/g, '\\s+'));
    return regexDetector(`custom.${name}`, Specificity.custom, new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, 'giu'));
  });
}
