// A bounded memo for text parsed again and again: a credential key's scan reads the same few
// annotation values on every cached object, so each distinct value is parsed once. The memo is
// emptied when it holds `max` values (a cluster holds few distinct values; the bound is a guard).

/** `parse`, remembered per distinct input; results are shared, so `parse` should return frozen values. */
export function parsedOnce<T>(parse: (raw: string) => T, max = 1024): (raw: string) => T {
  const parsed = new Map<string, T>();
  return (raw) => {
    let value = parsed.get(raw);
    if (value === undefined) {
      if (parsed.size >= max) parsed.clear();
      value = parse(raw);
      parsed.set(raw, value);
    }
    return value;
  };
}
