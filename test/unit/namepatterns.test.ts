import { globToRegExp, isNamePattern, nameMatcher } from '../../src/controller/namepatterns.js';

describe('isNamePattern', () => {
  test.each<[string, boolean]>([
    ['team-a', false],
    ['team-*', true],
    ['ci-??', true],
    ['*', true],
    ['a.b', false],
  ])('%s', (entry, expected) => {
    expect(isNamePattern(entry)).toBe(expected);
  });
});

describe('globToRegExp', () => {
  test.each<[string, string, boolean]>([
    ['team-*', 'team-a', true],
    ['team-*', 'team-', true],
    ['team-*', 'team', false],
    ['team-*', 'my-team-a', false],
    ['*-sandbox', 'payments-sandbox', true],
    ['*-sandbox', 'payments-sandbox-2', false],
    ['*', 'anything', true],
    ['*', '', true],
    ['ci-??', 'ci-01', true],
    ['ci-??', 'ci-1', false],
    ['ci-??', 'ci-001', false],
    ['t*m-*', 'team-a', true],
    ['t*m-*', 'tm-a', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    // every other character is literal: no regular-expression meaning leaks through
    ['team.a', 'teamxa', false],
    ['team.a', 'team.a', true],
    ['a+', 'aa', false],
    ['a+', 'a+', true],
    ['(a|b)', 'a', false],
    ['[ab]', 'a', false],
    ['^a$', '^a$', true],
    ['a\\b', 'a\\b', true],
  ])('%s against %s', (glob, name, expected) => {
    expect(globToRegExp(glob).test(name)).toBe(expected);
  });
});

describe('nameMatcher', () => {
  test.each<[string, string[], string, boolean]>([
    ['empty list matches nothing', [], 'a', false],
    ['a plain name matches itself', ['kube-system'], 'kube-system', true],
    ['a plain name is exact', ['kube-system'], 'kube-system-2', false],
    ['any pattern of several', ['kube-*', 'team-?'], 'team-a', true],
    ['names and patterns mixed: the name', ['payments', 'team-*'], 'payments', true],
    ['names and patterns mixed: the pattern', ['payments', 'team-*'], 'team-b', true],
    ['names and patterns mixed: neither', ['payments', 'team-*'], 'ops', false],
    ['patterns are anchored one by one', ['a*', '*b'], 'xay', false],
    ['"*" matches every name', ['*'], 'whatever', true],
  ])('%s', (_name, entries, name, expected) => {
    expect(nameMatcher(entries)(name)).toBe(expected);
  });
});
