import { request } from 'undici';
import type { AnalyzerConfig } from './policy.js';

/**
 * A client for an external analyzer speaking the wire format of Presidio's
 * analyzer (https://microsoft.github.io/presidio/api-docs/api-docs.html):
 * POST /analyze {text, language, entities?, score_threshold?} answered by
 * [{entity_type, start, end, score}, …]. Any service that answers the same way
 * can be plugged in; docs/guardrails.md describes the interface.
 */

/** A value the analyzer found, with UTF-16 offsets into the text sent. */
export interface AnalyzerFinding {
  readonly entityType: string;
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

export interface Analyzer {
  analyze(text: string): Promise<AnalyzerFinding[]>;
}

/** The analyzer did not answer in time, or answered with something other than findings. */
export class AnalyzerUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AnalyzerUnavailable';
  }
}

export class PresidioAnalyzer implements Analyzer {
  private readonly endpoint: string;

  constructor(
    readonly name: string,
    private readonly config: AnalyzerConfig,
  ) {
    this.endpoint = `${config.url.replace(/\/+$/, '')}/analyze`;
  }

  async analyze(text: string): Promise<AnalyzerFinding[]> {
    const { language, entities, scoreThreshold, timeoutMs } = this.config;
    let body: unknown;
    try {
      const response = await request(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, language, entities, score_threshold: scoreThreshold }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new AnalyzerUnavailable(`analyzer ${this.name} answered ${response.statusCode}`);
      }
      body = await response.body.json();
    } catch (err) {
      if (err instanceof AnalyzerUnavailable) throw err;
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new AnalyzerUnavailable(
        timedOut ? `analyzer ${this.name} did not answer within ${timeoutMs} ms` : `analyzer ${this.name} failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return readFindings(this.name, body, text);
  }
}

/** Checks the answer's shape and turns Presidio's offsets (Python's, in code points) into UTF-16 ones. */
function readFindings(name: string, body: unknown, text: string): AnalyzerFinding[] {
  if (!Array.isArray(body)) throw new AnalyzerUnavailable(`analyzer ${name} answered something other than a list of findings`);
  const utf16 = utf16Offsets(text);
  return body.map((item: unknown) => {
    const { entity_type, start, end, score } = (item ?? {}) as Record<string, unknown>;
    const from = typeof start === 'number' ? utf16[start] : undefined;
    const to = typeof end === 'number' ? utf16[end] : undefined;
    if (typeof entity_type !== 'string' || from === undefined || to === undefined || from >= to || typeof score !== 'number') {
      throw new AnalyzerUnavailable(`analyzer ${name} answered a finding without entity_type, start < end within the text, and score`);
    }
    return { entityType: entity_type, start: from, end: to, score };
  });
}

/** The UTF-16 index of each code point of the text, and of its end. */
function utf16Offsets(text: string): number[] {
  const offsets: number[] = [];
  for (let i = 0; i < text.length; i++) {
    offsets.push(i);
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) i++;
  }
  offsets.push(text.length);
  return offsets;
}
