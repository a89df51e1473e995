/**
 * The scanning core: detectors find candidate spans, one regex pass each, and
 * overlapping candidates are resolved so that each character is reported at
 * most once. Findings carry offsets, not the text, so that a caller can redact
 * or count without copying a secret anywhere.
 */

/** Where a detector found something: UTF-16 offsets into the scanned string, `end` exclusive. */
export interface Finding {
  /** The detector's id: `email`, `secret.jwt`, `custom.<name>`… */
  readonly detector: string;
  readonly start: number;
  readonly end: number;
}

/**
 * How much a finding says, to settle ties between overlapping ones of the same
 * length: an operator's own pattern, then a known secret format, then a value
 * with a checksum or a structure checked, then a format alone, then entropy alone.
 */
export const Specificity = { entropy: 0, format: 1, validated: 2, secret: 3, custom: 4 } as const;
export type Specificity = (typeof Specificity)[keyof typeof Specificity];

export interface Detector {
  readonly id: string;
  readonly specificity: Specificity;
  /** Reports each candidate span; spans of one detector do not overlap. */
  find(text: string, found: (start: number, end: number) => void): void;
}

/**
 * A detector made of one global regex and a check of each match. `accept`
 * returns how many leading characters of the match are the finding (a
 * match may run past its value, as an IBAN does into the next word), 0 for none.
 */
export function regexDetector(id: string, specificity: Specificity, pattern: RegExp, accept: (match: string) => number = (match) => match.length): Detector {
  if (!pattern.global) throw new Error(`detector ${id}: its pattern must be global`);
  return {
    id,
    specificity,
    find(text, found) {
      // Shared by every scan; safe because a scan runs to its end synchronously.
      pattern.lastIndex = 0;
      for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
        const length = match[0].length > 0 ? accept(match[0]) : 0;
        if (length > 0) found(match.index, match.index + length);
        // Go on from the end of what was kept, or just past a refused start: a value may begin inside a near miss.
        pattern.lastIndex = match.index + Math.max(length, 1);
      }
    },
  };
}

/**
 * A detector for values around a rare mark ("@", "::"): instead of trying its
 * pattern at every word of the text, it finds the marks, steps back over up to
 * `reach` characters the value may start with, and tries the pattern there
 * (`pattern` sticky, with its own look-behind and accept rules).
 */
export function anchoredDetector(
  id: string,
  specificity: Specificity,
  mark: RegExp,
  startChar: RegExp,
  reach: number,
  pattern: RegExp,
  accept: (match: string) => number = (match) => match.length,
): Detector {
  if (!mark.global || !pattern.sticky) throw new Error(`detector ${id}: its mark must be global and its pattern sticky`);
  return {
    id,
    specificity,
    find(text, found) {
      mark.lastIndex = 0;
      for (let at = mark.exec(text); at !== null; at = mark.exec(text)) {
        let start = at.index;
        while (start > 0 && at.index - start < reach && startChar.test(text[start - 1]!)) start--;
        pattern.lastIndex = start;
        const match = pattern.exec(text);
        const length = match ? accept(match[0]) : 0;
        if (length > 0) found(start, start + length);
        mark.lastIndex = Math.max(mark.lastIndex, start + length);
      }
    },
  };
}

/** A whole-match `accept` from a yes-or-no check. */
export const whole =
  (check: (match: string) => boolean) =>
  (match: string): number =>
    check(match) ? match.length : 0;

interface Candidate extends Finding {
  readonly specificity: Specificity;
}

/**
 * Runs the detectors over the text. Where findings overlap, the longest wins
 * (redacting it covers the most), then the most specific, then the earliest,
 * then the detector id: a JWT is one `secret.jwt`, not also `secret.high_entropy`.
 * Findings come sorted by start, and never overlap.
 */
export function scan(text: string, detectors: readonly Detector[]): Finding[] {
  const candidates: Candidate[] = [];
  for (const detector of detectors) {
    detector.find(text, (start, end) => candidates.push({ detector: detector.id, start, end, specificity: detector.specificity }));
  }
  candidates.sort((a, b) => a.start - b.start || b.end - a.end);
  const findings: Finding[] = [];
  // Candidates that overlap one another, directly or through others, form a cluster; clusters are settled apart.
  let first = 0;
  let clusterEnd = -1;
  for (let i = 0; i <= candidates.length; i++) {
    const candidate = candidates[i];
    if (candidate && candidate.start < clusterEnd) {
      clusterEnd = Math.max(clusterEnd, candidate.end);
      continue;
    }
    if (i > first) settle(candidates.slice(first, i), clusterEnd, findings);
    first = i;
    clusterEnd = candidate?.end ?? -1;
  }
  return findings.sort((a, b) => a.start - b.start);
}

/** Keeps the best of a cluster (sorted by start, ending by `end`) greedily, in the order `scan` describes. */
function settle(cluster: Candidate[], end: number, findings: Finding[]): void {
  const origin = cluster[0]!.start;
  if (cluster.length === 1) {
    findings.push(finding(cluster[0]!));
    return;
  }
  cluster.sort((a, b) => b.end - b.start - (a.end - a.start) || b.specificity - a.specificity || a.start - b.start || (a.detector < b.detector ? -1 : 1));
  // One flag per character of the cluster's span: the overlap test stays linear however many findings are kept.
  const claimed = new Uint8Array(end - origin);
  for (const candidate of cluster) {
    const from = candidate.start - origin;
    const to = candidate.end - origin;
    if (claimed.subarray(from, to).includes(1)) continue;
    claimed.fill(1, from, to);
    findings.push(finding(candidate));
  }
}

const finding = ({ detector, start, end }: Candidate): Finding => ({ detector, start, end });
