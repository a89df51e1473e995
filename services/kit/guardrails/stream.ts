import type { Block, Direction } from './engine.js';
import { scan, type Detector } from './scan.js';

/**
 * The answer as it streams: deltas go in, text safe to send comes out. The
 * last HOLD_BACK characters are always held, so a value (or a placeholder to
 * restore) that arrives split across deltas is seen whole before any of it is
 * sent; a value still growing at the edge of the window holds everything from
 * its start, up to MAX_HELD characters. docs/guardrails.md, "Streaming", says
 * what this catches and what it costs.
 */

/** What the scanner needs of a request's run: the answer's detectors and what each value and placeholder becomes. */
export interface ScannerHost {
  readonly answerDetectors: readonly Detector[];
  readonly restorations: ReadonlyMap<string, string>;
  decide(value: string, detector: string, direction: Direction, path: string): string | Block;
  restoredFor(placeholder: string): string | undefined;
}

/** Text to send now (possibly empty), or a block: the caller ends the stream with the rule's error. */
export type StreamStep = { readonly text: string; readonly blocked?: undefined } | { readonly blocked: Block; readonly text?: undefined };

/**
 * Characters always held back: longer than any placeholder (49), than every
 * built-in value but keys, JWTs and private keys, and than the prefix by
 * which those are recognised (a private key's header and 32 characters of body).
 */
export const HOLD_BACK = 128;
/** The most held while a value is still growing: more than the longest built-in value (a JWT, 11 KB). */
export const MAX_HELD = 16_384;
/**
 * Text is released once this much more than the window has come: each release
 * scans the window again, so releasing at every delta (a token, 4 characters)
 * would cost 40 scans of it per KB; this costs 4 times fewer.
 */
export const RELEASE_STEP = 32;
/** Characters already sent that are scanned again for the detectors' look-behinds (2 at most), never sent again. */
const CONTEXT = 32;

/** Placeholders look like `[EMAIL_1]`: a detector's name in upper case and a number. */
const PLACEHOLDER = /\[[A-Z0-9_]{1,40}_\d{1,6}\]/g;

/** A finding (with its detector) or a placeholder this request gave (without). */
interface Span {
  readonly start: number;
  readonly end: number;
  readonly detector?: string;
}

const NOTHING: StreamStep = { text: '' };

export class AnswerScanner {
  /** Raw text received and not yet sent. */
  private pending = '';
  /** The last raw characters sent. */
  private context = '';
  private blocked: Block | undefined;
  /** How long `pending` must be for the next release to be tried. */
  private releaseAt = HOLD_BACK + RELEASE_STEP;
  /** No answer rule and nothing to restore: deltas pass as they are. */
  private readonly passThrough: boolean;

  constructor(
    private readonly host: ScannerHost,
    private readonly path: string,
  ) {
    this.passThrough = host.answerDetectors.length === 0 && host.restorations.size === 0;
  }

  push(delta: string): StreamStep {
    if (this.passThrough) return { text: delta };
    if (this.blocked) return { blocked: this.blocked };
    this.pending += delta;
    if (this.pending.length > MAX_HELD) return this.release('forced');
    if (this.pending.length < this.releaseAt) return NOTHING;
    const step = this.release('window');
    // Held text grows by a quarter before it is scanned again: a value held as it grows costs a few scans of itself, not one per delta.
    this.releaseAt = this.pending.length + Math.max(RELEASE_STEP, this.pending.length >> 2);
    return step;
  }

  /** The rest, once the answer has ended. */
  end(): StreamStep {
    if (this.passThrough) return NOTHING;
    if (this.blocked) return { blocked: this.blocked };
    return this.release('all');
  }

  /**
   * Sends what lies before the cut: the window's start, moved back to the start
   * of a value or placeholder that crosses it, or (when too much is held) on to its end.
   */
  private release(mode: 'window' | 'forced' | 'all'): StreamStep {
    const text = this.context + this.pending;
    const from = this.context.length;
    const spans = this.spans(text, from);
    let cut = mode === 'all' ? text.length : text.length - HOLD_BACK;
    const crossing = spans.find((span) => span.start < cut && span.end > cut);
    if (crossing) cut = mode === 'forced' ? crossing.end : crossing.start;
    if (cut <= from) return NOTHING;
    let sent = '';
    let at = from;
    for (const span of spans) {
      if (span.start >= cut) break;
      const value = text.slice(span.start, span.end);
      const replacement = span.detector === undefined ? this.host.restoredFor(value)! : this.host.decide(value, span.detector, 'answer', this.path);
      if (typeof replacement !== 'string') {
        this.blocked = replacement;
        return { blocked: replacement };
      }
      sent += text.slice(at, span.start) + replacement;
      at = span.end;
    }
    this.context = text.slice(Math.max(0, cut - CONTEXT), cut);
    this.pending = text.slice(cut);
    return { text: sent + text.slice(at, cut) };
  }

  /** Placeholders given by this request, and findings that touch no placeholder, from `from` on, by start. */
  private spans(text: string, from: number): Span[] {
    const placeholders: Span[] = [];
    for (const match of text.matchAll(PLACEHOLDER)) {
      if (match.index >= from && this.host.restoredFor(match[0]) !== undefined) placeholders.push({ start: match.index, end: match.index + match[0].length });
    }
    const findings: Span[] = [];
    if (this.host.answerDetectors.length > 0) {
      for (const finding of scan(text, this.host.answerDetectors)) {
        if (finding.end <= from || placeholders.some((p) => p.start < finding.end && finding.start < p.end)) continue;
        // A value that began in text already sent (only when too much was held): what is left of it is still decided.
        findings.push({ start: Math.max(finding.start, from), end: finding.end, detector: finding.detector });
      }
    }
    return placeholders.length === 0 ? findings : [...placeholders, ...findings].sort((a, b) => a.start - b.start);
  }
}
