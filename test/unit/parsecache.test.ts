import { parsedOnce } from '../../src/runtime/parsecache.js';

describe('parsedOnce', () => {
  test('parses each distinct input once and shares the result', () => {
    const seen: string[] = [];
    const parse = parsedOnce((raw) => {
      seen.push(raw);
      return { raw };
    });
    const first = parse('a');
    expect(parse('a')).toBe(first);
    parse('b');
    parse('a');
    expect(seen).toEqual(['a', 'b']);
  });

  test('forgets everything once it holds `max` values, then parses again', () => {
    const seen: string[] = [];
    const parse = parsedOnce((raw) => seen.push(raw), 2);
    for (const raw of ['a', 'b', 'c', 'a']) parse(raw);
    // 'c' found the memo full (a, b) and emptied it: 'a' is parsed again
    expect(seen).toEqual(['a', 'b', 'c', 'a']);
  });
});
