// Pure: namespace names and glob patterns over them (spec.namespaceNames, spec.excludeNamespaces).
// `*` matches any run of characters (also none), `?` exactly one; every other character matches
// itself. A list matches a name when any of its entries does. Patterns are compiled once per list:
// a credential key tests every cached namespace against them.

export type NameMatcher = (name: string) => boolean;

const WILDCARD = /[*?]/;

/** Whether an entry is a pattern (has a wildcard) rather than a plain name. */
export function isNamePattern(entry: string): boolean {
  return WILDCARD.test(entry);
}

/** The anchored regular expression of one glob. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** A matcher for a list of names and patterns: plain names by set lookup, patterns by one regular expression. */
export function nameMatcher(entries: readonly string[]): NameMatcher {
  const names = new Set(entries.filter((entry) => !isNamePattern(entry)));
  const patterns = entries.filter(isNamePattern);
  if (patterns.length === 0) return (name) => names.has(name);
  const combined = new RegExp(patterns.map((pattern) => `(?:${globToRegExp(pattern).source})`).join('|'), 's');
  return (name) => names.has(name) || combined.test(name);
}
