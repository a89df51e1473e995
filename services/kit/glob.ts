/** Compiled patterns, since the same few allowlist patterns are matched on every request. */
const compiled = new Map<string, RegExp>();

/** Whether a name matches a glob pattern: `*` any run of characters, `?` one character, all else literal. */
export function globMatch(pattern: string, name: string): boolean {
  let regex = compiled.get(pattern);
  if (!regex) {
    if (compiled.size > 10_000) compiled.clear();
    regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      's',
    );
    compiled.set(pattern, regex);
  }
  return regex.test(name);
}

/** Whether any pattern of an allowlist matches; an empty list allows nothing. */
export const matchesAny = (patterns: readonly string[], name: string): boolean => patterns.some((pattern) => globMatch(pattern, name));
