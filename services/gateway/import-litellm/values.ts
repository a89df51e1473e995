import type { Report } from './report.js';

const ENV_REFERENCE = /^os\.environ\/([A-Za-z_][A-Za-z0-9_]*)$/;

/** The environment variables a LiteLLM config refers to with `os.environ/NAME`, anywhere in it. */
export function referencedEnv(tree: unknown, found = new Set<string>()): Set<string> {
  if (typeof tree === 'string') {
    const name = ENV_REFERENCE.exec(tree)?.[1];
    if (name) found.add(name);
  } else if (tree && typeof tree === 'object') for (const value of Object.values(tree)) referencedEnv(value, found);
  return found;
}

/** An environment variable's name made of words: "azure", "gpt-4o" → AZURE_GPT_4O. */
export function envName(...words: string[]): string {
  return words
    .join('_')
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/**
 * LiteLLM's values as this gateway's: `os.environ/NAME` stays a reference to the same variable, and a secret written
 * into the file becomes a reference to a new variable the operator sets, so no secret is copied.
 */
export class Values {
  constructor(
    private readonly report: Report,
    /** Variable names in use, so a new one never shadows one the file refers to. */
    private readonly taken: Set<string>,
  ) {}

  /** A setting that is no secret: `os.environ/NAME` becomes `${NAME}`, which the gateway substitutes when it loads. */
  plain(value: unknown): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    const text = String(value);
    const name = ENV_REFERENCE.exec(text)?.[1];
    return name ? `\${${name}}` : text;
  }

  /**
   * A secret as an env: reference (read again while the gateway runs). A literal secret is replaced by env:<suggested>,
   * which the report asks the operator to set; an absent one is read from `fallback`, where LiteLLM looks by default.
   */
  secret(value: unknown, path: string, suggested: string, fallback?: string): string | undefined {
    if (value === undefined || value === null || value === '') {
      if (!fallback) return undefined;
      this.report.set(path, `not set: reads env:${fallback}, where LiteLLM looks by default`);
      return `env:${fallback}`;
    }
    const name = ENV_REFERENCE.exec(String(value))?.[1];
    if (name) return `env:${name}`;
    let fresh = suggested;
    for (let n = 2; this.taken.has(fresh); n++) fresh = `${suggested}_${n}`;
    this.taken.add(fresh);
    this.report.set(path, `the file holds this secret itself, which is not copied: set ${fresh} to it (the output reads env:${fresh})`);
    return `env:${fresh}`;
  }
}
