import { GatewayError } from '../errors.js';
import { customDetectors } from './custom.js';
import { AnalyzerUnavailable, PresidioAnalyzer, type Analyzer, type AnalyzerFinding } from './external.js';
import { PERSONAL_DATA_DETECTORS } from './detectors.js';
import { DETECTOR_GROUPS, policiesFor, type CallerScope, type GuardrailRuleConfig, type GuardrailsConfig } from './policy.js';
import { Specificity, scan, type Detector } from './scan.js';
import { SECRET_DETECTORS } from './secrets.js';
import { AnswerScanner, type ScannerHost } from './stream.js';

/**
 * Guardrail policies at work: which rules apply to a caller, and what they do
 * to a request's text and to the answer. Compiled once from configuration
 * (`new Guardrails(config)`), then one `GuardrailRun` per request:
 *
 *   const run = guardrails.begin({ keyId, teamId, customerId });  // undefined: no policy applies
 *   const checked = await run.checkRequest(segments);             // blocked, or segments redacted
 *   const scanner = run.answerScanner('choices[0].delta.content'); // push each delta, emit what it returns
 *   run.outcomes();                                                // (policy, rule, action, detector, count) for events
 */

export type Direction = 'request' | 'answer';
export type Action = 'block' | 'redact' | 'flag';

/** A piece of a request's or an answer's text and where it is (`messages[2].content`), whatever the API's wire format. */
export interface TextSegment {
  readonly path: string;
  readonly text: string;
}

/** Why a request or an answer was refused: a rule and where, never the value. */
export interface Block {
  readonly policy: string;
  readonly rule: string;
  readonly direction: Direction;
  /** The segment that held the value; empty when an analyzer failed closed. */
  readonly path: string;
  /** `detected` a value (of `detector`), or the rule's external analyzer failed and the rule fails closed. */
  readonly reason: 'detected' | 'analyzer_unavailable';
  readonly detector?: string;
}

/** How many values a rule found, for events and metrics. */
/**
 * What a rule did, counted per detector. An external rule whose analyzer failed
 * counts `analyzer_failed_open` (the request went on unread by it) or
 * `analyzer_failed_closed` (refused) under detector `external.<analyzer>`, so
 * the request's event says its text was not checked.
 */
export interface Outcome {
  readonly policy: string;
  readonly rule: string;
  readonly action: Action | 'analyzer_failed_open' | 'analyzer_failed_closed';
  readonly detector: string;
  count: number;
}

/** An external analyzer that failed; the request went on if `failedOpen`. */
export interface AnalyzerFailure {
  readonly policy: string;
  readonly rule: string;
  readonly analyzer: string;
  readonly failedOpen: boolean;
  readonly error: string;
}

export type Checked = { readonly blocked: Block } | { readonly blocked?: undefined; readonly segments: TextSegment[] };

interface Rule {
  readonly policy: string;
  readonly name: string;
  readonly action: Action;
  readonly restore: boolean;
  readonly directions: readonly Direction[];
  /** The detector ids the rule reads; for a rule with an external analyzer, empty. */
  readonly detectors: ReadonlySet<string>;
  readonly external?: { readonly name: string; readonly analyzer: Analyzer; readonly failOpen: boolean };
}

/** Findings of analyzer `presidio` of entity PERSON are reported as `external.presidio.PERSON`. */
const externalPrefix = (analyzer: string) => `external.${analyzer}.`;
const reads = (rule: Rule, detector: string) => (rule.external ? detector.startsWith(externalPrefix(rule.external.name)) : rule.detectors.has(detector));
const directionsOf = ({ direction = 'both', external }: GuardrailRuleConfig): Direction[] =>
  external !== undefined ? ['request'] : direction === 'both' ? ['request', 'answer'] : [direction];
const STRENGTH: Record<Action, number> = { flag: 0, redact: 1, block: 2 };

export class Guardrails {
  private readonly rules = new Map<string, Rule[]>();
  private readonly sets = new Map<string, PolicySet | undefined>();
  private readonly detectors: ReadonlyMap<string, Detector>;

  constructor(private readonly config: GuardrailsConfig) {
    const custom = customDetectors(config.custom);
    this.detectors = new Map([...PERSONAL_DATA_DETECTORS, ...SECRET_DETECTORS, ...custom].map((detector) => [detector.id, detector]));
    const groups: Record<string, readonly string[]> = { ...DETECTOR_GROUPS, custom: custom.map((detector) => detector.id) };
    const analyzers = new Map(Object.entries(config.analyzers).map(([name, settings]) => [name, new PresidioAnalyzer(name, settings)]));
    for (const [policy, { rules }] of Object.entries(config.policies)) {
      this.rules.set(
        policy,
        rules.map((rule) => ({
          policy,
          name: rule.name,
          action: rule.action,
          restore: rule.restore,
          directions: directionsOf(rule),
          detectors: new Set((rule.detectors ?? []).flatMap((id) => groups[id] ?? [id])),
          external:
            rule.external === undefined
              ? undefined
              : { name: rule.external, analyzer: analyzers.get(rule.external)!, failOpen: rule.onAnalyzerError === 'open' },
        })),
      );
    }
  }

  /** The names of the policies that apply to a caller. */
  policiesFor(scope: CallerScope): string[] {
    return policiesFor(this.config.attach, scope);
  }

  /** A run of the caller's policies over one request and its answer; undefined when none applies. */
  begin(scope: CallerScope): GuardrailRun | undefined {
    const names = this.policiesFor(scope);
    const key = names.join('\n');
    if (!this.sets.has(key)) {
      const rules = names.flatMap((name) => this.rules.get(name) ?? []);
      this.sets.set(key, rules.length > 0 ? new PolicySet(rules, this.detectors) : undefined);
    }
    const set = this.sets.get(key);
    return set && new GuardrailRun(set);
  }
}

/** The rules of a set of policies, with what each direction needs to run them worked out once. */
class PolicySet {
  readonly detectors: Record<Direction, Detector[]>;
  /** Request rules by the analyzer they read. */
  readonly analyzers: { readonly name: string; readonly analyzer: Analyzer; readonly rules: Rule[] }[] = [];
  private readonly byDetector = new Map<string, Rule[]>();

  constructor(
    readonly rules: readonly Rule[],
    detectors: ReadonlyMap<string, Detector>,
  ) {
    const ids = (direction: Direction) => new Set(rules.filter((rule) => rule.directions.includes(direction)).flatMap((rule) => [...rule.detectors]));
    this.detectors = { request: [...ids('request')].map((id) => detectors.get(id)!), answer: [...ids('answer')].map((id) => detectors.get(id)!) };
    for (const rule of rules) {
      if (!rule.external) continue;
      const group = this.analyzers.find((entry) => entry.name === rule.external!.name);
      if (group) group.rules.push(rule);
      else this.analyzers.push({ name: rule.external.name, analyzer: rule.external.analyzer, rules: [rule] });
    }
  }

  /** The rules that read a detector's findings in a direction, in policy order. */
  rulesFor(direction: Direction, detector: string): Rule[] {
    const key = `${direction}:${detector}`;
    let rules = this.byDetector.get(key);
    if (!rules) this.byDetector.set(key, (rules = this.rules.filter((rule) => rule.directions.includes(direction) && reads(rule, detector))));
    return rules;
  }
}

/** A placeholder's name: its detector's last part in upper case (`[PAYMENT_CARD_1]`, `[OPENAI_KEY_1]`, `[PERSON_1]`). */
const placeholderLabel = (detector: string) =>
  detector
    .slice(detector.lastIndexOf('.') + 1)
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .slice(0, 40);

/** Segments are sent to an analyzer as one text, apart by a blank line. */
const SEGMENT_SEPARATOR = '\n\n';

/**
 * One request's guardrails: the placeholders given so far (the same value
 * gets the same one in the request and in its answer), the values to put back
 * into the answer, and the count of every rule's findings.
 */
export class GuardrailRun implements ScannerHost {
  private readonly placeholders = new Map<string, string>();
  private readonly issued = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly restorable = new Map<string, string>();
  private readonly tally = new Map<string, Outcome>();
  readonly analyzerFailures: AnalyzerFailure[] = [];

  constructor(private readonly set: PolicySet) {}

  get answerDetectors(): readonly Detector[] {
    return this.set.detectors.answer;
  }

  /** Placeholder → the caller's value, for the placeholders that rules with `restore` gave. */
  get restorations(): ReadonlyMap<string, string> {
    return this.restorable;
  }

  /** Runs the request rules over the request's text: the first block, or every segment with its values redacted. */
  async checkRequest(segments: readonly TextSegment[]): Promise<Checked> {
    const external = await this.analyze(segments);
    if (!Array.isArray(external)) return { blocked: external };
    const checked: TextSegment[] = [];
    for (const [i, segment] of segments.entries()) {
      const findings = scan(segment.text, [...this.set.detectors.request, ...external[i]!]);
      let text = '';
      let at = 0;
      for (const finding of findings) {
        const replacement = this.decide(segment.text.slice(finding.start, finding.end), finding.detector, 'request', segment.path);
        if (typeof replacement !== 'string') return { blocked: replacement };
        text += segment.text.slice(at, finding.start) + replacement;
        at = finding.end;
      }
      checked.push(at === 0 ? segment : { path: segment.path, text: text + segment.text.slice(at) });
    }
    return { segments: checked };
  }

  /** A scanner for one streamed text of the answer (a choice's content, a tool call's arguments), named by `path` in a block. */
  answerScanner(path: string): AnswerScanner {
    return new AnswerScanner(this, path);
  }

  /** Runs the answer rules over a whole answer's segments, restoring placeholders as a stream would. */
  checkAnswer(segments: readonly TextSegment[]): Checked {
    const checked: TextSegment[] = [];
    for (const segment of segments) {
      const scanner = this.answerScanner(segment.path);
      const head = scanner.push(segment.text);
      const tail = scanner.end();
      if (head.blocked || tail.blocked) return { blocked: (head.blocked ?? tail.blocked)! };
      checked.push({ path: segment.path, text: head.text + tail.text });
    }
    return { segments: checked };
  }

  /** What each rule found so far, in the request and the answer. */
  outcomes(): Outcome[] {
    return [...this.tally.values()].map((outcome) => ({ ...outcome }));
  }

  /**
   * What a found value becomes: itself when only flagged, its placeholder when
   * redacted, or a block. Every rule that reads the detector counts it; the
   * strongest action applies, and a placeholder is restored only if every
   * redacting rule allows it.
   */
  decide(value: string, detector: string, direction: Direction, path: string): string | Block {
    const rules = this.set.rulesFor(direction, detector);
    let strongest: Rule | undefined;
    let restore = true;
    for (const rule of rules) {
      this.count(rule, detector);
      if (!strongest || STRENGTH[rule.action] > STRENGTH[strongest.action]) strongest = rule;
      if (rule.action === 'redact') restore &&= rule.restore && direction === 'request';
    }
    if (!strongest || strongest.action === 'flag') return value;
    if (strongest.action === 'block') return { policy: strongest.policy, rule: strongest.name, direction, path, reason: 'detected', detector };
    return this.placeholderFor(value, detector, restore);
  }

  /** A placeholder this run gave, and the value to put in its place in the answer (itself unless restored). */
  restoredFor(placeholder: string): string | undefined {
    return this.issued.has(placeholder) ? (this.restorable.get(placeholder) ?? placeholder) : undefined;
  }

  private placeholderFor(value: string, detector: string, restore: boolean): string {
    let placeholder = this.placeholders.get(value);
    if (placeholder === undefined) {
      const label = placeholderLabel(detector);
      const number = (this.counters.get(label) ?? 0) + 1;
      this.counters.set(label, number);
      placeholder = `[${label}_${number}]`;
      this.placeholders.set(value, placeholder);
      this.issued.add(placeholder);
    }
    if (restore) this.restorable.set(placeholder, value);
    return placeholder;
  }

  private count(rule: Rule, detector: string, action: Outcome['action'] = rule.action): void {
    const key = `${rule.policy}\n${rule.name}\n${detector}\n${action}`;
    const outcome = this.tally.get(key);
    if (outcome) outcome.count++;
    else this.tally.set(key, { policy: rule.policy, rule: rule.name, action, detector, count: 1 });
  }

  /**
   * Sends the request's text to each analyzer its rules read, all at once, and
   * returns per segment detectors that report what they found, or the block of a
   * rule that fails closed.
   */
  private async analyze(segments: readonly TextSegment[]): Promise<Detector[][] | Block> {
    const perSegment: Detector[][] = segments.map(() => []);
    if (this.set.analyzers.length === 0) return perSegment;
    const text = segments.map((segment) => segment.text).join(SEGMENT_SEPARATOR);
    const answers = await Promise.all(this.set.analyzers.map(({ analyzer }) => analyzer.analyze(text).catch((err: unknown) => err)));
    for (const [i, { name, rules }] of this.set.analyzers.entries()) {
      const answer = answers[i];
      if (!Array.isArray(answer)) {
        if (!(answer instanceof AnalyzerUnavailable)) throw answer;
        for (const rule of rules) {
          const failOpen = rule.external!.failOpen;
          this.analyzerFailures.push({ policy: rule.policy, rule: rule.name, analyzer: name, failedOpen: failOpen, error: answer.message });
          this.count(rule, `external.${name}`, failOpen ? 'analyzer_failed_open' : 'analyzer_failed_closed');
          if (!failOpen) return { policy: rule.policy, rule: rule.name, direction: 'request', path: '', reason: 'analyzer_unavailable' };
        }
        continue;
      }
      spreadOverSegments(name, answer, segments).forEach((detectors, j) => perSegment[j]!.push(...detectors));
    }
    return perSegment;
  }
}

/** Per segment of a joined text, a detector for each entity type the analyzer found in it; a finding is clipped to its segment. */
function spreadOverSegments(analyzer: string, findings: readonly AnalyzerFinding[], segments: readonly TextSegment[]): Detector[][] {
  let start = 0;
  return segments.map(({ text }) => {
    const end = start + text.length;
    const spans = new Map<string, [number, number][]>();
    for (const finding of findings) {
      if (finding.end <= start || finding.start >= end) continue;
      const id = `${externalPrefix(analyzer)}${finding.entityType}`;
      spans.set(id, [...(spans.get(id) ?? []), [Math.max(finding.start, start) - start, Math.min(finding.end, end) - start]]);
    }
    start = end + SEGMENT_SEPARATOR.length;
    return [...spans].map(([id, found]) => ({ id, specificity: Specificity.format, find: (_text, report) => found.forEach(([from, to]) => report(from, to)) }));
  });
}

/** The error a caller sends for a block, in the client's API shape at the edge: the rule named, never the value. */
export function guardrailError(block: Block): GatewayError {
  const what = block.direction === 'request' ? 'The request' : 'The answer';
  if (block.reason === 'analyzer_unavailable') {
    return new GatewayError('service_unavailable', `${what} was refused: guardrail rule "${block.rule}" (policy "${block.policy}") could not check it.`);
  }
  return new GatewayError(
    'content_policy_violation',
    `${what} was blocked by guardrail rule "${block.rule}" (policy "${block.policy}"): ${block.path} holds ${block.detector}.`,
    {
      param: block.direction === 'request' ? block.path : undefined,
    },
  );
}
