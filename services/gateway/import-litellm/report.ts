/**
 * What an import could not carry over as it was, each finding under the LiteLLM key it came from. No finding ever
 * holds a value from the file: a secret would otherwise reach the terminal and the output's header.
 */

export type FindingKind = 'set' | 'changed' | 'dropped';

export interface Finding {
  kind: FindingKind;
  /** The LiteLLM key, e.g. model_list[2].litellm_params.api_key. */
  path: string;
  message: string;
}

const HEADINGS: Record<FindingKind, string> = {
  set: 'Set before starting the gateway:',
  changed: 'Mapped with a difference:',
  dropped: 'Not carried over:',
};

export class Report {
  readonly findings: Finding[] = [];

  private add(finding: Finding): void {
    // A rule applied to many groups ("*" fallbacks) finds the same thing for each.
    if (!this.findings.some((f) => f.path === finding.path && f.message === finding.message)) this.findings.push(finding);
  }

  /** Something the operator must provide, such as an environment variable in place of a key the file held. */
  set(path: string, message: string): void {
    this.add({ kind: 'set', path, message });
  }

  /** Mapped, but not to the same behaviour. */
  changed(path: string, message: string): void {
    this.add({ kind: 'changed', path, message });
  }

  /** Left out of the output. */
  dropped(path: string, message: string): void {
    this.add({ kind: 'dropped', path, message });
  }

  /** The findings as lines under one heading per kind; none when everything mapped. */
  lines(): string[] {
    return (Object.keys(HEADINGS) as FindingKind[]).flatMap((kind) => {
      const found = this.findings.filter((f) => f.kind === kind);
      return found.length === 0 ? [] : [HEADINGS[kind], ...found.map((f) => `  ${f.path}: ${f.message}`)];
    });
  }
}
